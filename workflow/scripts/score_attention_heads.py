"""Rule score_attention_heads: per-head mean entropy and ablation effect of one model."""

from _job import script_job

with script_job(globals()["snakemake"], numerics=True) as snakemake:
    from hybrid_retrieval.jobs.experiments import run_head_scores

    run_head_scores(
        snakemake.input.model,
        model=snakemake.params.model,
        grid=snakemake.params.grid,
        haystack=snakemake.params.haystack,
        settings=snakemake.params.settings,
        haystack_dir=snakemake.input.get("haystack"),
        device=snakemake.params.device,
        threads=snakemake.threads,
        out_path=snakemake.output[0],
    )
