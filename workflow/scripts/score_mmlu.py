"""Rule score_mmlu: multiple-choice accuracy of one model at one k, prefill sparsity (E5)."""

from _job import script_job

with script_job(globals()["snakemake"], numerics=True) as snakemake:
    from hybrid_retrieval.jobs.experiments import run_mmlu

    s = snakemake.params.settings
    run_mmlu(
        snakemake.input.model,
        model=snakemake.params.model,
        # "hub" -> the snapshot record the download rule wrote; a local copy -> its path; "toy" -> no input
        dataset=str(getattr(snakemake.input, "dataset", s["dataset"])),
        k=snakemake.params.k,
        num_shots=s["num_shots"],
        chat_template=s["chat_template"],
        batch_size=s["batch_size"],
        max_questions_per_subject=s["max_questions_per_subject"],
        head_score=s["head_score"],
        device=snakemake.params.device,
        threads=snakemake.threads,
        out_path=snakemake.output[0],
    )
