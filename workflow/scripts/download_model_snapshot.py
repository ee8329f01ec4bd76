"""Rule download_model_snapshot: a hub model at its locked commit into the HF cache, linked from
resources/models/{model} (with revision.txt and snapshot.json)."""

from _job import script_job

with script_job(globals()["snakemake"]) as snakemake:
    from hybrid_retrieval.infra.hub import download_model_snapshot  # no torch: a quick local job

    hub = snakemake.params.hub
    download_model_snapshot(hub["repo_id"], hub["revision"], snakemake.output[0], commit=hub["commit"])
