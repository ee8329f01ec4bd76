"""Rule download_haystack: the needle test's essays at a pinned commit, hash-checked (or copied from
haystack.from_dir when offline)."""

from _job import script_job

with script_job(globals()["snakemake"]) as snakemake:
    from hybrid_retrieval.tasks.haystack import copy_haystack, download_haystack

    p = snakemake.params
    if p.from_dir:
        copy_haystack(p.from_dir, snakemake.output[0], sha256=p.sha256)
    else:
        download_haystack(snakemake.output[0], base_url=p.base_url, commit=p.commit, sha256=p.sha256)
