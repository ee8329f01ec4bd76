"""Rule compare_reference: this run against reference/ -> results/reference_check.json (never fails)."""

import sys
from pathlib import Path

# The package from this working tree (src/), also in per-rule conda envs where it is not installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from hybrid_retrieval.reference import format_comparison, write_comparison  # noqa: E402
from hybrid_retrieval.workflow_support import job_log  # noqa: E402

snakemake = globals()["snakemake"]  # injected by Snakemake's script preamble
with job_log(snakemake.log[0]) as log:
    result = write_comparison(
        Path(snakemake.input.provenance).parent, Path(snakemake.input.readme).parent, snakemake.output[0]
    )
    log.info("%s", format_comparison(result))
