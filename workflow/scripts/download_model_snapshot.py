"""Rule download_model_snapshot: a hub model at its locked commit into the HF cache, linked from
resources/models/{model} (with revision.txt and snapshot.json)."""

import sys
from pathlib import Path

# The package from this working tree (src/), also in per-rule conda envs where it is not installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from hybrid_retrieval.hub import download_model_snapshot  # noqa: E402 (no torch: a quick local job)
from hybrid_retrieval.workflow_support import job_log  # noqa: E402

snakemake = globals()["snakemake"]  # injected by Snakemake's script preamble
with job_log(snakemake.log[0]):
    hub = snakemake.params.hub
    download_model_snapshot(hub["repo_id"], hub["revision"], snakemake.output[0], commit=hub["commit"])
