"""Rule summarize_attention_maps: every model's probe maps, binned over key positions, for the figure."""

from _job import script_job

with script_job(globals()["snakemake"]) as snakemake:
    from hybrid_retrieval.jobs.attention_maps import write_summary

    write_summary(list(snakemake.input), snakemake.output[0])
