"""Rule download_dataset: a hub dataset at its locked commit into the HF cache, plus its snapshot.json."""

import sys
from pathlib import Path

# The package from this working tree (src/), also in per-rule conda envs where it is not installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from hybrid_retrieval.hub import download_snapshot_to  # noqa: E402
from hybrid_retrieval.workflow_support import job_log  # noqa: E402

snakemake = globals()["snakemake"]  # injected by Snakemake's script preamble
with job_log(snakemake.log[0]):
    hub = snakemake.params.hub
    download_snapshot_to(hub["repo_id"], hub["revision"], hub["commit"], snakemake.output[0], "dataset")
