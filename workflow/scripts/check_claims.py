"""Rule check_claims: each claim x model as PASS / FAIL / INCONCLUSIVE / NOT RUN -> results/claims.csv."""

import sys
from pathlib import Path

# The package from this working tree (src/), also in per-rule conda envs where it is not installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from hybrid_retrieval.claims import evaluate_claims  # noqa: E402
from hybrid_retrieval.workflow_support import job_log  # noqa: E402

snakemake = globals()["snakemake"]  # injected by Snakemake's script preamble
with job_log(snakemake.log[0]):
    evaluate_claims(
        Path(snakemake.input[0]).parent,
        snakemake.output[0],
        snakemake.params.claims,
        models=snakemake.params.models,
        families=snakemake.params.families,
    )
