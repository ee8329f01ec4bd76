"""Rule download_dataset: a hub dataset at its locked commit into the HF cache, plus its snapshot.json."""

from _job import script_job

with script_job(globals()["snakemake"]) as snakemake:
    from hybrid_retrieval.infra.hub import download_snapshot_to

    hub = snakemake.params.hub
    download_snapshot_to(hub["repo_id"], hub["revision"], hub["commit"], snakemake.output[0], "dataset")
