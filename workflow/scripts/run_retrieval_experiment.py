"""Rules run_*_retrieval, run_attention_ablation, run_exposure_grid, run_layer_controls,
run_sparsity_sweep: every condition of one needle-test experiment on one model."""

from _job import script_job

with script_job(globals()["snakemake"], numerics=True) as snakemake:
    from hybrid_retrieval.jobs.experiments import run_experiment

    run_experiment(
        snakemake.input.model,
        snakemake.params.experiment,
        model=snakemake.params.model,
        grid=snakemake.params.grid,
        haystack=snakemake.params.haystack,
        settings=snakemake.params.settings,
        haystack_dir=snakemake.input.get("haystack"),
        head_scores_path=snakemake.input.get("scores"),
        device=snakemake.params.device,
        threads=snakemake.threads,
        out_path=snakemake.output[0],
        write_prompts=snakemake.params.get("write_prompts", False),
    )
