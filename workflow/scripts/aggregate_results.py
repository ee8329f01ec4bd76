"""Rule aggregate_results: per-trial rows of every model -> results/tables/*.parquet|csv."""

from pathlib import Path

from _job import script_job

with script_job(globals()["snakemake"], numerics=True) as snakemake:
    from hybrid_retrieval.analysis.aggregate import aggregate

    tables_dir = Path(snakemake.output[0]).parent  # results/tables
    aggregate(
        tables_dir.parent,
        tables_dir,
        retention_fraction=snakemake.params.retention_fraction,
    )
