"""Rule plot_figures: the figures with data, as Vega-Lite JSON, SVG and PDF -> results/figures/."""

import sys
from pathlib import Path

# The package from this working tree (src/), also in per-rule conda envs where it is not installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from hybrid_retrieval.report.figures import write_figures  # noqa: E402
from hybrid_retrieval.workflow_support import job_log  # noqa: E402

snakemake = globals()["snakemake"]  # injected by Snakemake's script preamble
with job_log(snakemake.log[0]):
    Path(snakemake.output[0]).mkdir(
        parents=True, exist_ok=True
    )  # a run with no figure data still has the folder
    write_figures(
        Path(snakemake.input[0]).parent, snakemake.output[0], formats=tuple(snakemake.params.formats)
    )
