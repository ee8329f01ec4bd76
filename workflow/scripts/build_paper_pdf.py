"""Rule build_paper_pdf: compile paper/main.tex (which inputs paper/generated/) -> paper/build/main.pdf."""

from pathlib import Path

from _job import script_job

with script_job(globals()["snakemake"]) as snakemake:
    from hybrid_retrieval.errors import HybridRetrievalError
    from hybrid_retrieval.report.latex import build_pdf

    if not build_pdf(Path(snakemake.input.tex).parent, snakemake.output[0]):
        raise HybridRetrievalError(
            "no LaTeX engine (latexmk or pdflatex) on PATH; install texlive, or set report.paper_pdf: false"
        )
