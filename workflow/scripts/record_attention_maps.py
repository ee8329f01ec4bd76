"""Rule record_attention_maps: raw attention maps and kept heads per step on the probe prompts."""

from _job import script_job

with script_job(globals()["snakemake"], numerics=True) as snakemake:
    from hybrid_retrieval.jobs.attention_maps import run_attention_maps

    run_attention_maps(
        snakemake.input.model,
        model=snakemake.params.model,
        grid=snakemake.params.grid,
        haystack=snakemake.params.haystack,
        settings=snakemake.params.settings,
        out_paths=list(snakemake.output),
        haystack_dir=snakemake.input.get("haystack"),
        device=snakemake.params.device,
        threads=snakemake.threads,
    )
