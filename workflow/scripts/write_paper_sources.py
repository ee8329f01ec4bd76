"""Rule write_paper_sources: the generated LaTeX (macros, claims, tables, figures) -> paper/generated/."""

import sys
from pathlib import Path

# The package from this working tree (src/), also in per-rule conda envs where it is not installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from hybrid_retrieval.report.latex import write_paper_sources  # noqa: E402
from hybrid_retrieval.workflow_support import job_log  # noqa: E402

snakemake = globals()["snakemake"]  # injected by Snakemake's script preamble
with job_log(snakemake.log[0]):
    write_paper_sources(
        tables_dir=Path(snakemake.input.tables[0]).parent,
        claims_csv=snakemake.input.claims,
        figures_dir=snakemake.input.figures,
        out_dir=snakemake.output[0],
        max_new_tokens=snakemake.params.max_new_tokens,
    )
