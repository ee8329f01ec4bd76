"""Rule record_provenance: machine, kernels, numerics, versions and toy weight hashes -> results/provenance.json."""

from pathlib import Path

from _job import script_job

with script_job(globals()["snakemake"], numerics=True) as snakemake:
    from hybrid_retrieval.infra.provenance import write_provenance

    write_provenance(
        snakemake.params.config,
        snakemake.output[0],
        model_dirs=snakemake.params.models,
        # the checkout (not a param: a moved run reruns nothing)
        repo_dir=Path(snakemake.scriptdir).parents[1],
    )
