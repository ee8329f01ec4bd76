"""Display versions of the aggregated tables, shared by the HTML report and the LaTeX paper.

A `TableView` holds already formatted strings, so both outputs print the same numbers; escaping is the
renderer's job (Jinja2 autoescape for HTML, `latex_escape` for LaTeX).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import polars as pl

from hybrid_retrieval.aggregate import read_table


@dataclass(frozen=True)
class TableView:
    name: str
    caption: str
    columns: list[str]
    rows: list[list[str]]


def fmt(value: object, *, percent: bool = False) -> str:
    """One cell: None -> "n/a", floats with 3 decimals (or as a percentage), the rest as str."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{100 * value:.1f}%" if percent else f"{value:.3f}"
    return str(value)


def _rate_ci(rate: float | None, low: float | None, high: float | None) -> str:
    if rate is None:
        return "n/a"
    return f"{100 * rate:.1f}% [{100 * low:.1f}, {100 * high:.1f}]"


def retrieval_view(summary: pl.DataFrame) -> TableView:
    rows = [
        [
            r["model"],
            r["experiment"],
            r["condition"],
            r["prompt_variant"],
            fmt(r["n"]),
            _rate_ci(r["exact_rate"], r["ci_low"], r["ci_high"]),
            fmt(r["mean_score"]),
        ]
        for r in summary.iter_rows(named=True)
    ]
    return TableView(
        "retrieval_summary",
        "Exact retrieval rate with 95% Wilson interval and mean score / 5, per condition.",
        ["model", "experiment", "condition", "prompt", "n", "exact [95% CI]", "score/5"],
        rows,
    )


def sparsity_view(threshold: pl.DataFrame) -> TableView:
    rows = [
        [
            r["model"],
            r["kind"],
            r["phase"],
            r["prompt_variant"],
            fmt(r["k_min"]),
            fmt(r["num_heads"]),
            fmt(r["kept_fraction"], percent=True),
            fmt(r["value"], percent=True),
            fmt(r["reference"], percent=True),
        ]
        for r in threshold.iter_rows(named=True)
    ]
    return TableView(
        "sparsity_threshold",
        "Smallest k (heads kept per attention layer) whose exact retrieval is at least 95% of the all-heads rate.",
        ["model", "kind", "phase", "prompt", "k min", "heads", "kept", "exact at k min", "all heads"],
        rows,
    )


def mmlu_view(mmlu: pl.DataFrame) -> TableView:
    rows = [
        [
            r["model"],
            r["dataset"],
            r["condition"],
            fmt(r["k"]),
            fmt(r["n"]),
            _rate_ci(r["accuracy"], r["ci_low"], r["ci_high"]),
            fmt(r["retention"]),
        ]
        for r in mmlu.iter_rows(named=True)
    ]
    return TableView(
        "mmlu_summary",
        "Multiple-choice accuracy (micro average, 95% Wilson interval) and retention acc(k) / acc(all heads).",
        ["model", "dataset", "condition", "k", "n", "accuracy [95% CI]", "retention"],
        rows,
    )


def claims_view(claims: pl.DataFrame) -> TableView:
    rows = [
        [
            fmt(r["claim_id"]),
            r["claim"],
            r["model"],
            fmt(r["paper_value"]),
            fmt(r["measured"]),
            fmt(r["tolerance"]),
            r["status"],
            r["detail"] or "",
        ]
        for r in claims.iter_rows(named=True)
    ]
    return TableView(
        "claims",
        "The paper's claims, checked against this run.",
        ["#", "claim", "model", "paper", "measured", "tolerance", "status", "detail"],
        rows,
    )


def report_views(tables_dir: str | os.PathLike[str]) -> list[TableView]:
    """The tables shown in the report and the paper, skipping absent or empty ones."""
    views = []
    for name, make in (
        ("retrieval_summary", retrieval_view),
        ("sparsity_threshold", sparsity_view),
        ("mmlu_summary", mmlu_view),
    ):
        df = read_table(tables_dir, name)
        if df is not None and not df.is_empty():
            views.append(make(df))
    return views


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters so any string (model names, details) typesets literally."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def latex_table(view: TableView, *, label: str | None = None, wrap: dict[int, str] | None = None) -> str:
    """A booktabs `longtable` (it breaks across pages: the retrieval summary has a row per condition).
    `wrap` maps a column index to a p{width} for long text."""
    wrap = wrap or {}
    spec = "".join(f"p{{{wrap[i]}}}" if i in wrap else "l" for i in range(len(view.columns)))
    header = " & ".join(latex_escape(c) for c in view.columns) + r" \\"
    caption = rf"\caption{{{latex_escape(view.caption)}}}" + (rf"\label{{{label}}}" if label else "")
    lines = [
        r"{\scriptsize",
        rf"\begin{{longtable}}{{{spec}}}",
        caption + r" \\",
        r"\toprule",
        header,
        r"\midrule",
        r"\endfirsthead",
        r"\toprule",
        header,
        r"\midrule",
        r"\endhead",
        r"\bottomrule",
        r"\endlastfoot",
        *(" & ".join(latex_escape(cell) for cell in row) + r" \\" for row in view.rows),
        r"\end{longtable}",
        r"}",
    ]
    return "\n".join(lines) + "\n"
