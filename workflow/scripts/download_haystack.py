"""Rule download_haystack: the needle test's essays at a pinned commit, hash-checked (or copied from
haystack.from_dir when offline)."""

import sys
from pathlib import Path

# The package from this working tree (src/), also in per-rule conda envs where it is not installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from hybrid_retrieval.tasks.haystack import copy_haystack, download_haystack  # noqa: E402
from hybrid_retrieval.workflow_support import job_log  # noqa: E402

snakemake = globals()["snakemake"]  # injected by Snakemake's script preamble
with job_log(snakemake.log[0]):
    p = snakemake.params
    if p.from_dir:
        copy_haystack(p.from_dir, snakemake.output[0], sha256=p.sha256)
    else:
        download_haystack(snakemake.output[0], base_url=p.base_url, commit=p.commit, sha256=p.sha256)
