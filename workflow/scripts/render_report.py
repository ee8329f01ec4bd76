"""Rule render_report: the self-contained HTML report -> results/report/index.html."""

import sys
from pathlib import Path

# The package from this working tree (src/), also in per-rule conda envs where it is not installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from hybrid_retrieval.report.render import render_report  # noqa: E402
from hybrid_retrieval.workflow_support import job_log  # noqa: E402

snakemake = globals()["snakemake"]  # injected by Snakemake's script preamble
with job_log(snakemake.log[0]):
    render_report(
        tables_dir=Path(snakemake.input.tables[0]).parent,
        claims_csv=snakemake.input.claims,
        config=snakemake.params.config,
        benchmarks_dir=None,
        benchmarks=list(snakemake.input.benchmarks),
        out_html=snakemake.output[0],
        provenance=snakemake.input.provenance,
        reference_check=snakemake.input.reference_check,
    )
