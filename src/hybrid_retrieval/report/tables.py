"""Display versions of the aggregated tables, shared by the HTML report and the LaTeX paper.

A `TableView` holds already formatted strings, so both outputs print the same numbers; escaping is the
renderer's job (Jinja2 autoescape for HTML, `latex_escape` for LaTeX).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from hybrid_retrieval.analysis.aggregate import read_table
from hybrid_retrieval.report.families import UNKNOWN, several

# The tables' captions (the HTML report, the paper and the `snakemake --report` items: workflow/report/*.rst).
TABLE_CAPTIONS = {
    "retrieval_summary": (
        "Exact retrieval rate with 95% Wilson interval and mean score / 5, per condition. "
        "entropy-top-k and random-k keep k heads in every attention layer; static-heads-N keeps N heads "
        "in total across the attention layers."
    ),
    "sparsity_threshold": (
        "Smallest k (heads kept per attention layer) whose exact retrieval is at least 95% of the all-heads rate."
    ),
    "mmlu_summary": (
        "Multiple-choice accuracy (micro average, 95% Wilson interval) and retention acc(k) / acc(all heads)."
    ),
    "claims": "The paper's claims, decided against this run: PASS / FAIL when the whole interval meets / violates the criterion, INCONCLUSIVE when it straddles the threshold.",
}


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


def natural_key(text: object) -> tuple:
    """Sort key that orders the numbers inside a label by value: "static-heads-2" before "static-heads-10"."""
    parts = re.split(r"(\d+)", "" if text is None else str(text))
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


def _sorted_rows(df: pl.DataFrame, keys: list[str]) -> list[dict]:
    """The rows of `df` ordered by `keys`, each compared by `natural_key` (stable for ties)."""
    return sorted(df.iter_rows(named=True), key=lambda r: tuple(natural_key(r[k]) for k in keys))


def _drop_repeats(rows: list[list[str]]) -> list[list[str]]:
    """Rows whose displayed cells repeat an earlier row, removed: e.g. the exposure grid's "baseline" at
    prefill keep and at prefill follow, which are the same intervention when generation keeps the needle."""
    seen: set[tuple[str, ...]] = set()
    out = []
    for row in rows:
        if tuple(row) not in seen:
            seen.add(tuple(row))
            out.append(row)
    return out


def _rate_ci(rate: float | None, low: float | None, high: float | None) -> str:
    if rate is None:
        return "n/a"
    return f"{100 * rate:.1f}% [{100 * low:.1f}, {100 * high:.1f}]"


# The experiments in the order the paper presents them (others after, alphabetically).
_EXPERIMENT_ORDER = ("baseline", "attention_ablated", "jrt", "exposure", "controls", "sparsity_sweep")


def _experiment_rank(name: str) -> tuple:
    if name in _EXPERIMENT_ORDER:
        return (0, _EXPERIMENT_ORDER.index(name), "")
    return (1, 0, name)


def retrieval_view(summary: pl.DataFrame) -> TableView:
    ordered = sorted(
        summary.iter_rows(named=True),
        key=lambda r: (
            natural_key(r["model"]),
            _experiment_rank(r["experiment"]),
            natural_key(r["condition"]),
            natural_key(r["prompt_variant"]),
        ),
    )
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
        for r in ordered
    ]
    # The same label with different numbers (prefill keep vs follow measured apart): name the prefill mode.
    labels: dict[tuple[str, str, str, str], set[tuple[str, ...]]] = {}
    for row in rows:
        labels.setdefault((row[0], row[1], row[2], row[3]), set()).add(tuple(row[4:]))
    for row, r in zip(rows, ordered, strict=True):
        if len(labels[(row[0], row[1], row[2], row[3])]) > 1 and r.get("prefill_mode"):
            row[2] = f"{row[2]} (prefill {r['prefill_mode']})"
    return TableView(
        "retrieval_summary",
        TABLE_CAPTIONS["retrieval_summary"],
        ["model", "experiment", "condition", "prompt", "n", "exact [95% CI]", "score/5"],
        _drop_repeats(rows),
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
        for r in _sorted_rows(threshold, ["model", "kind", "phase", "prompt_variant"])
    ]
    return TableView(
        "sparsity_threshold",
        TABLE_CAPTIONS["sparsity_threshold"],
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
        for r in _sorted_rows(mmlu, ["model", "dataset", "kind", "k", "condition"])
    ]
    return TableView(
        "mmlu_summary",
        TABLE_CAPTIONS["mmlu_summary"],
        ["model", "dataset", "condition", "k", "n", "accuracy [95% CI]", "retention"],
        rows,
    )


def glue_view(glue: pl.DataFrame) -> TableView:
    rows = [
        [
            r["model"],
            r["task"],
            r["metric"],
            r["condition"],
            fmt(r["k"]),
            fmt(r["n"]),
            fmt(r["value"]),
            fmt(r["retention"]),
        ]
        for r in glue.iter_rows(named=True)
    ]
    return TableView(
        "glue_summary",
        "GLUE (lm-eval's glue tasks, validation split) under prefill sparsity: each task's metric (acc; mcc for "
        "CoLA; f1 for MRPC and QQP) and retention value(k) / value(all heads).",
        ["model", "task", "metric", "condition", "k", "n", "value", "retention"],
        rows,
    )


def _interval(r: dict) -> str:
    if r.get("estimate") is None:
        return ""
    return f"{100 * r['estimate']:.1f}% [{100 * r['ci_low']:.1f}, {100 * r['ci_high']:.1f}]"


def claims_view(claims: pl.DataFrame, families: Mapping[str, str] | None = None) -> TableView:
    """One row per claim x model: the claim with the paper's sentence, the deciding estimate with its
    interval and n, the threshold, the verdict, and for INCONCLUSIVE the trials that would decide it.
    `families` (model -> family, `report.families`): when the run holds several, a family column after the
    model, and each claim's rows grouped by family (then model); the claims keep their order."""
    grouped = several(families)
    family = (families or {}).get
    records = list(claims.iter_rows(named=True))
    if grouped:
        first = {}
        for i, r in enumerate(records):
            first.setdefault(r["claim_id"], i)
        records.sort(
            key=lambda r: (first[r["claim_id"]], family(r["model"], UNKNOWN), natural_key(r["model"]))
        )
    rows = []
    for r in records:
        decide = ""
        if r["status"] == "INCONCLUSIVE":
            decide = (
                f"~{r['trials_needed']} trials per condition would decide it ({r['trials_key']})"
                if r.get("trials_needed")
                else f"the estimate sits on the threshold ({r['trials_key']})"
            )
        rows.append(
            [
                str(r["claim_id"]),
                f"{r['claim']} (paper: \"{r['quote']}\")",
                r["model"],
                *([family(r["model"], UNKNOWN)] if grouped else []),
                r["scope"],
                _interval(r),
                fmt(r["n"]),
                "" if r.get("threshold") is None else f"{100 * r['threshold']:.1f}%",
                r["status"],
                "; ".join(x for x in (decide, r["detail"] or "") if x),
            ]
        )
    level = claims["level"][0] if claims.height and "level" in claims.columns else 0.95
    return TableView(
        "claims",
        TABLE_CAPTIONS["claims"] + f" Estimate and {100 * level:g}% interval of the deciding statistic.",
        ["#", "claim", "model", *(["family"] if grouped else []), "scope", "estimate [CI]", "n", "threshold",
         "status", "detail"],
        rows,
    )  # fmt: skip


_STATUSES = ("PASS", "FAIL", "INCONCLUSIVE", "NOT RUN")
PAPER_FAMILIES = frozenset({"recurrent_gemma", "jamba"})


def family_summary_view(claims: pl.DataFrame, families: Mapping[str, str] | None) -> TableView | None:
    """Verdicts counted per family (its models, then PASS / FAIL / INCONCLUSIVE / NOT RUN rows), for a run
    holding a family beyond the paper's two (config/hybrids.yaml); None otherwise, so the paper's and the
    toys' reports keep their claim-first layout."""
    if not several(families) or set(families.values()) <= PAPER_FAMILIES:
        return None
    counts: dict[str, dict[str, int]] = {}
    for r in claims.iter_rows(named=True):
        row = counts.setdefault(families.get(r["model"], UNKNOWN), dict.fromkeys(_STATUSES, 0))
        row[r["status"]] = row.get(r["status"], 0) + 1
    members: dict[str, list[str]] = {}
    for model, fam in families.items():
        members.setdefault(fam, []).append(model)
    rows = [
        [
            fam,
            ", ".join(sorted(members.get(fam, []), key=natural_key)),
            *(str(counts[fam][s]) for s in _STATUSES),
        ]
        for fam in sorted(counts)
    ]
    return TableView(
        "family_summary",
        "Verdicts per architecture family (the family of each model's config.json model_type): how many claim x "
        "model rows of the claims table each status has.",
        ["family", "models", *_STATUSES],
        rows,
    )


def report_views(tables_dir: str | os.PathLike[str]) -> list[TableView]:
    """The tables shown in the report and the paper, skipping absent or empty ones."""
    views = []
    for name, make in (
        ("retrieval_summary", retrieval_view),
        ("sparsity_threshold", sparsity_view),
        ("mmlu_summary", mmlu_view),
        ("glue_summary", glue_view),
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
