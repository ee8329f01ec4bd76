"""Rule train_toy_model: train a tiny model of a real architecture into resources/models/{model}."""

from _job import script_job

with script_job(globals()["snakemake"], numerics=True) as snakemake:
    from hybrid_retrieval.models.toy import train_toy

    toy = snakemake.params.toy
    train_toy(toy["arch"], snakemake.output[0], seed=toy["seed"], **toy["overrides"])
