"""Section `report`: the report's figure formats and the paper PDF."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hybrid_retrieval.config._base import Strict


class Report(Strict):
    figure_formats: list[Literal["vl.json", "html", "svg", "pdf"]] = Field(
        ["vl.json", "svg", "pdf"], min_length=1, description="Formats each figure is written in (results/figures/)."
    )
    # auto = build paper/build/main.pdf when a LaTeX engine (latexmk or pdflatex) is on PATH.
    paper_pdf: bool | Literal["auto"] = "auto"

