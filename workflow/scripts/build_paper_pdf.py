"""Rule build_paper_pdf: compile paper/main.tex (which inputs paper/generated/) -> paper/build/main.pdf."""

import sys
from pathlib import Path

# The package from this working tree (src/), also in per-rule conda envs where it is not installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from hybrid_retrieval.errors import HybridRetrievalError  # noqa: E402
from hybrid_retrieval.report.latex import build_pdf  # noqa: E402
from hybrid_retrieval.workflow_support import job_log  # noqa: E402

snakemake = globals()["snakemake"]  # injected by Snakemake's script preamble
with job_log(snakemake.log[0]):
    if not build_pdf(Path(snakemake.input.tex).parent, snakemake.output[0]):
        raise HybridRetrievalError(
            "no LaTeX engine (latexmk or pdflatex) on PATH; install texlive, or set report.paper_pdf: false"
        )
