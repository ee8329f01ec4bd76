"""Rule score_glue: one GLUE task's metric inputs for one model at one k, prefill sparsity (E5)."""

from _job import script_job

with script_job(globals()["snakemake"], numerics=True) as snakemake:
    from hybrid_retrieval.jobs.glue_eval import run_glue

    s = snakemake.params.settings
    run_glue(
        snakemake.input.model,
        model=snakemake.params.model,
        dataset=snakemake.input.dataset,
        task=snakemake.wildcards.task,
        k=snakemake.params.k,
        num_shots=s["num_shots"],
        chat_template=s["chat_template"],
        batch_size=s["batch_size"],
        fewshot_seed=s["fewshot_seed"],
        max_docs_per_task=s["max_docs_per_task"],
        head_score=s["head_score"],
        device=snakemake.params.device,
        threads=snakemake.threads,
        out_path=snakemake.output[0],
    )
