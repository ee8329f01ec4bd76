"""Rule check_claims: each claim x model as PASS / FAIL / INCONCLUSIVE / NOT RUN -> results/claims.csv."""

from pathlib import Path

from _job import script_job

with script_job(globals()["snakemake"]) as snakemake:
    from hybrid_retrieval.claims import evaluate_claims

    evaluate_claims(
        Path(snakemake.input[0]).parent,
        snakemake.output[0],
        snakemake.params.claims,
        models=snakemake.params.models,
        families=snakemake.params.families,
    )
