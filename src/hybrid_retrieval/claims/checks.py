"""Each claim's check: the rows of the aggregated tables it reads, the interval it decides from
(hybrid_retrieval.analysis.statistics) and the detail it writes; `CHECKS` maps claim ids to them."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import polars as pl

from hybrid_retrieval.analysis.aggregate import read_table
from hybrid_retrieval.analysis.statistics import (
    FAIL,
    NOT_RUN,
    Decision,
    combine,
    decide_paired_difference,
    decide_rate,
    decide_ratio,
)
from hybrid_retrieval.claims.wording import _pct
from hybrid_retrieval.config.claims import ClaimsConfig

STANDARD = ~pl.col("prompt_variant").str.ends_with("jrt")


@dataclass(frozen=True)
class ClaimResult:
    status: str
    decision: Decision | None = None
    detail: str = ""




def _rows(table: pl.DataFrame | None, model: str, **equal: object) -> pl.DataFrame | None:
    """The table's rows for `model` (and the given column values), or None when there are none."""
    if table is None:
        return None
    df = table.filter(pl.col("model") == model)
    for col, value in equal.items():
        df = df.filter(pl.col(col) == value)
    return None if df.is_empty() else df


def _distinct(trials: pl.DataFrame) -> pl.DataFrame:
    """One row per distinct model input (reachable trials only): duplicates are one observation."""
    return trials.filter(pl.col("reachable")).unique("prompt_hash", keep="first", maintain_order=True)


def _rate(trials: pl.DataFrame, direction: str, threshold: float, cfg: ClaimsConfig, label: str) -> Decision | None:
    rows = _distinct(trials)
    if rows.is_empty():
        return None
    return decide_rate(int(rows["exact"].sum()), rows.height, direction, threshold, cfg.level, label)  # type: ignore[arg-type]


PAIR_KEYS = ["context_length", "depth", "haystack", "needle"]


def _paired(
    first: pl.DataFrame, second: pl.DataFrame, on: list[str], direction: str, threshold: float,
    cfg: ClaimsConfig, label: str,
) -> Decision | None:
    """rate(first) - rate(second) over the trials present in both (joined on `on`), each distinct pair of
    inputs once."""
    cols = [*on, "prompt_hash", "exact", "reachable"]
    pairs = first.select(cols).join(second.select(cols), on=on, how="inner", suffix="_2")
    pairs = pairs.filter(pl.col("reachable") & pl.col("reachable_2")).unique(
        ["prompt_hash", "prompt_hash_2"], keep="first", maintain_order=True
    )
    if pairs.is_empty():
        return None
    return decide_paired_difference(
        pairs["exact"].to_list(), pairs["exact_2"].to_list(), direction, threshold, cfg.level, label  # type: ignore[arg-type]
    )


def _untestable(summary: pl.DataFrame | None, model: str, cfg: ClaimsConfig) -> ClaimResult | None:
    """FAIL when the model does not retrieve when intact (then "ablation gives 0%" says nothing)."""
    base = _rows(summary, model, experiment="baseline", kind="none")
    if base is None:
        return ClaimResult(NOT_RUN, detail="no baseline rows: the intact retrieval rate is unknown")
    if base["exact_rate"].null_count() == base.height:
        return ClaimResult(FAIL, None, "not testable: no baseline trial has its needle within reach")
    intact = float(base["exact_rate"].min())
    if intact < cfg.min_intact_exact:
        return ClaimResult(
            FAIL,
            None,
            f"not testable: intact exact retrieval is {_pct(intact)} < {_pct(cfg.min_intact_exact)}"
            f"{_reach(base)}, so the model does not retrieve to begin with",
        )
    return None


def _reach(rows: pl.DataFrame) -> str:
    """" over n of N trials (needle within reach)" when some trials were out of the window, else ""."""
    if "n_all" not in rows.columns:
        return ""
    n, total = int(rows["n"].sum()), int(rows["n_all"].sum())
    return "" if n == total else f" over {n} of {total} trials (the rest have the needle beyond the window)"


def _verdict(decisions: list[Decision], prefix: str = "", suffix: str = "") -> ClaimResult:
    deciding = combine(decisions)
    assert deciding is not None
    cells = "; ".join(d.describe() for d in decisions)
    return ClaimResult(deciding.status, deciding, f"{prefix}{cells}{suffix}")


def claim_ablation(tables: Tables, model: str, cfg: ClaimsConfig) -> ClaimResult:
    if (untestable := _untestable(tables.summary, model, cfg)) is not None:
        return untestable
    rows = _rows(tables.trials, model, experiment="attention_ablated", k=0)
    if rows is None:
        return ClaimResult(NOT_RUN, detail="no attention_ablated (k = 0) rows")
    decisions = [
        d
        for phase in sorted(rows["phase"].unique().to_list())
        if (d := _rate(rows.filter(pl.col("phase") == phase), "<=", cfg.failure_max, cfg, f"{phase}: ")) is not None
    ]
    if not decisions:
        return ClaimResult(NOT_RUN, detail="no reachable attention_ablated trial")
    return _verdict(decisions, "exact rate at k = 0 per phase: ")


def claim_jrt(tables: Tables, model: str, cfg: ClaimsConfig) -> ClaimResult:
    if (untestable := _untestable(tables.summary, model, cfg)) is not None:
        return untestable
    rows = _rows(tables.trials, model, experiment="jrt")
    if rows is None:
        return ClaimResult(NOT_RUN, detail="no jrt rows")
    on = ["kind", "phase", *PAIR_KEYS]
    by_k: dict[int, list[Decision]] = {}
    for k in sorted(rows["k"].drop_nulls().unique().to_list()):
        at_k = rows.filter(pl.col("k") == k)
        d = _paired(
            at_k.filter(~STANDARD), at_k.filter(STANDARD), on, "<=", cfg.jrt_tolerance, cfg, f"k={k}: JRT - standard "
        )
        if d is not None:
            by_k[k] = [d]
    if 0 not in by_k:
        return ClaimResult(NOT_RUN, detail="no standard/JRT pair of trials at k = 0")
    reported = [d for k in cfg.jrt_report_ks if k in by_k for d in by_k[k]]
    also = (
        "; reported, not decided (the gain comes through the kept heads): "
        + "; ".join(f"{d.label}{_pct(d.estimate)} [{_pct(d.low)}, {_pct(d.high)}] (n={d.n})" for d in reported)
        if reported
        else ""
    )
    return _verdict(by_k[0], "paired difference in exact rate, same haystacks: ", also)


def _nearest_k(num_heads: int, fraction: float) -> int:
    """The k in 1..H-1 whose kept fraction k/H is nearest `fraction`; ties go to the larger k."""
    candidates = range(1, num_heads)
    return min(candidates, key=lambda k: (abs(k / num_heads - fraction), -k)) if num_heads > 1 else num_heads


def claim_sparsity(tables: Tables, model: str, cfg: ClaimsConfig) -> ClaimResult:
    rows = _rows(tables.trials, model, experiment="sparsity_sweep", kind="entropy_topk", phase=cfg.sparsity_phase)
    if rows is None:
        return ClaimResult(NOT_RUN, detail=f"no entropy_topk sweep in phase {cfg.sparsity_phase!r}")
    rows = rows.filter(STANDARD)  # JRT is claim 2's business
    heads = int(rows["num_heads"].max())
    intact = rows.filter(pl.col("k") == heads)
    if intact.is_empty():
        return ClaimResult(NOT_RUN, detail=f"the sweep has no k = H = {heads} (all heads) point to compare with")
    intact_rate = _rate(intact, ">=", cfg.min_intact_exact, cfg, "")
    if intact_rate is None or intact_rate.estimate < cfg.min_intact_exact:
        return ClaimResult(
            FAIL,
            None,
            f"not testable: exact retrieval with all heads is {_pct(intact_rate and intact_rate.estimate)} < "
            f"{_pct(cfg.min_intact_exact)}, so the model does not retrieve to begin with",
        )
    k_star = _nearest_k(heads, cfg.sparsity_paper_fraction)
    ks = sorted(k for k in rows["k"].drop_nulls().unique().to_list() if k_star <= k < heads)
    if not ks or ks[0] != k_star:
        return ClaimResult(NOT_RUN, detail=f"the sweep lacks k = {k_star} of {heads} (nearest the paper's 5/32)")
    on = ["prompt_variant", "trial_id"]
    decisions = []
    for k in ks:
        at_k = rows.filter(pl.col("k") == k)
        absolute = _rate(at_k, ">=", cfg.near_perfect_min, cfg, f"k={k}: ")
        relative = _paired(at_k, intact, on, ">=", -cfg.near_perfect_margin, cfg, f"k={k} - all heads: ")
        decisions += [d for d in (absolute, relative) if d is not None]
    if not decisions:
        return ClaimResult(NOT_RUN, detail="no reachable sweep trial")
    deciding = combine(decisions)
    assert deciding is not None
    at_star = [d for d in decisions if d.label.startswith(f"k={k_star}")]
    detail = (
        f"k = {k_star} of {heads} heads per layer ({_pct(k_star / heads)} kept; paper: 5 of 32 = "
        f"{_pct(cfg.sparsity_paper_fraction)}), with all heads {_pct(intact_rate.estimate)} (n={intact_rate.n}): "
        + "; ".join(d.describe() for d in at_star)
        + (
            f"; every larger k up to {heads - 1} checked alike ({len(decisions) - len(at_star)} more intervals), "
            f"deciding: {deciding.describe()}"
            if len(ks) > 1
            else ""
        )
    )
    return ClaimResult(deciding.status, deciding, detail)


def _chosen_k(rows: pl.DataFrame, model: str, cfg: ClaimsConfig) -> int | None:
    if model in cfg.mmlu_k:
        return cfg.mmlu_k[model]
    candidates = rows.filter(
        pl.col("kept_fraction").is_not_null() & (pl.col("k") > 0) & (pl.col("k") < pl.col("num_heads"))
    )
    if candidates.is_empty():
        return None
    target = cfg.sparsity_paper_fraction
    # Nearest kept fraction to the paper's 5/32; ties go to the larger k (the less aggressive cut).
    ranked = candidates.with_columns((pl.col("kept_fraction") - target).abs().alias("dist")).sort(
        ["dist", "k"], descending=[False, True]
    )
    return int(ranked["k"][0])


def claim_mmlu(tables: Tables, model: str, cfg: ClaimsConfig) -> ClaimResult:
    summary = _rows(tables.mmlu, model, kind="entropy_topk")
    items = _rows(tables.mmlu_items, model, kind="entropy_topk")
    if summary is not None and cfg.mmlu_dataset is not None:
        summary = _rows(summary, model, dataset=cfg.mmlu_dataset)
    if summary is None or items is None:
        return ClaimResult(NOT_RUN, detail="no multiple-choice rows under entropy top-k")
    k = _chosen_k(summary, model, cfg)
    chosen = None if k is None else summary.filter(pl.col("k") == k)
    if chosen is None or chosen.is_empty():
        return ClaimResult(NOT_RUN, detail=f"no k = {k} result to compare with all heads")
    decisions = []
    for dataset in sorted(chosen["dataset"].unique().to_list()):
        row = chosen.filter(pl.col("dataset") == dataset).row(0, named=True)
        heads = int(row["num_heads"])
        if row["intact_accuracy"] is None:
            return ClaimResult(NOT_RUN, detail=f"{dataset}: no all-heads result to divide by")
        if row["intact_accuracy"] < cfg.min_intact_accuracy:
            return ClaimResult(
                FAIL,
                None,
                f"not testable: {dataset} accuracy with all heads is {_pct(row['intact_accuracy'])} < "
                f"{_pct(cfg.min_intact_accuracy)} (chance is 25%), so there is nothing to retain",
            )
        ds = items.filter(pl.col("dataset") == dataset)
        key = ["subject", "question_id"]
        pairs = (
            ds.filter(pl.col("k") == k)
            .select(*key, "question_key", "correct")
            .join(ds.filter(pl.col("k") == heads).select(*key, pl.col("correct").alias("intact")), on=key)
        )
        if pairs.is_empty():
            return ClaimResult(NOT_RUN, detail=f"{dataset}: no question answered both at k = {k} and with all heads")
        # One observation per question: the arrangements of a question (the toys' test items) share its
        # question_key, score their mean, and are resampled together.
        questions = (
            pairs.sort(key)
            .group_by("question_key", maintain_order=True)
            .agg(pl.col("correct").cast(pl.Float64).mean(), pl.col("intact").cast(pl.Float64).mean())
        )
        arranged = (
            f" over {pairs.height} items ({questions.height} questions' arrangements, each question resampled "
            "as one)"
            if pairs.height > questions.height
            else ""
        )
        label = f"{dataset}: acc(k={k} of {heads}) / acc(all heads){arranged} = "
        target, tol = cfg.mmlu_paper_retention, cfg.mmlu_tolerance
        a, b = questions["correct"].to_list(), questions["intact"].to_list()
        if cfg.mmlu_mode == "at_least":
            decisions.append(decide_ratio(a, b, ">=", target - tol, cfg.level, cfg.bootstrap_seed, label))
        else:  # inside the band: both ends decided, the worse one reported
            low = decide_ratio(a, b, ">=", target - tol, cfg.level, cfg.bootstrap_seed, label)
            high = decide_ratio(a, b, "<=", target + tol, cfg.level, cfg.bootstrap_seed, label)
            decisions.append(combine([low, high]))  # type: ignore[arg-type]
    return _verdict(decisions, "", "; paired percentile bootstrap over questions")


def glue_note(glue: pl.DataFrame | None, model: str, cfg: ClaimsConfig) -> str:
    """Claim 4's companion, reported beside it and not checked: GLUE's retention value(k) / value(all
    heads) per task and metric at claim 4's k (claims.mmlu_k, else the kept fraction nearest 5/32)."""
    rows = _rows(glue, model, kind="entropy_topk")
    if rows is None:
        return "GLUE: not run"
    k = _chosen_k(rows, model, cfg)
    chosen = None if k is None else rows.filter(pl.col("k") == k).sort("task", "metric")
    if chosen is None or chosen.is_empty():
        return f"GLUE: no k = {k} result"
    parts = [
        f"{r['task']} {r['metric']} {'n/a' if r['retention'] is None else format(r['retention'], '.3f')}"
        for r in chosen.iter_rows(named=True)
    ]
    return f"GLUE retention at k = {k} (reported, not checked): " + ", ".join(parts)


def _exposure_rows(tables: Tables, model: str, cfg: ClaimsConfig) -> pl.DataFrame | ClaimResult:
    if (untestable := _untestable(tables.summary, model, cfg)) is not None:
        return untestable
    rows = _rows(tables.trials, model, experiment="exposure")
    if rows is None:
        return ClaimResult(NOT_RUN, detail="no exposure rows")
    return rows


def _cell_label(r: Mapping[str, object]) -> str:
    return f"generation={r['generation_mode']}, prefill={r['prefill_mode']}" + (
        f", k={r['k']}" if r.get("k") is not None else ""
    )


def claim_hidden(tables: Tables, model: str, cfg: ClaimsConfig) -> ClaimResult:
    rows = _exposure_rows(tables, model, cfg)
    if isinstance(rows, ClaimResult):
        return rows
    hidden = rows.filter(pl.col("generation_mode").is_in(list(cfg.exposure_hidden_modes)))
    if hidden.is_empty():
        return ClaimResult(NOT_RUN, detail=f"the exposure grid has no {'/'.join(cfg.exposure_hidden_modes)} cell")
    decisions = []
    for cell in hidden.select("generation_mode", "prefill_mode", "k").unique().sort(
        "generation_mode", "prefill_mode", "k", nulls_last=True
    ).iter_rows(named=True):
        cond = (pl.col("generation_mode") == cell["generation_mode"]) & (pl.col("prefill_mode") == cell["prefill_mode"])
        cond &= pl.col("k").is_null() if cell["k"] is None else pl.col("k") == cell["k"]
        d = _rate(hidden.filter(cond), "<=", cfg.failure_max, cfg, _cell_label(cell) + ": ")
        if d is not None:
            decisions.append(d)
    if not decisions:
        return ClaimResult(NOT_RUN, detail="no reachable hidden-needle trial")
    return _verdict(decisions, "needle hidden during generation, exact rate per cell: ")


def claim_context(tables: Tables, model: str, cfg: ClaimsConfig) -> ClaimResult:
    rows = _exposure_rows(tables, model, cfg)
    if isinstance(rows, ClaimResult):
        return rows
    decisions, missing = [], []
    for cell in cfg.exposure_context_cells:
        at = rows.filter(
            (pl.col("generation_mode") == cell.generation_mode) & (pl.col("prefill_mode") == cell.prefill_mode)
        )
        for k in sorted(at["k"].unique().to_list(), key=lambda v: (v is None, v)):
            sub = at.filter(pl.col("k").is_null() if k is None else pl.col("k") == k)
            direction, threshold = ("<=", cfg.failure_max) if cell.expect == "fail" else (">=", cfg.retrieve_min)
            label = _cell_label({**cell.model_dump(), "k": k}) + f" (should {cell.expect}): "
            if (d := _rate(sub, direction, threshold, cfg, label)) is not None:
                decisions.append(d)
        if at.is_empty():
            missing.append(f"generation={cell.generation_mode}, prefill={cell.prefill_mode}")
    if missing:
        return ClaimResult(
            NOT_RUN,
            detail="the exposure grid lacks the cells " + "; ".join(missing)
            + " (experiments.exposure.generation_modes / prefill_modes)",
        )
    return _verdict(decisions, "exact rate per cell: ")


@dataclass(frozen=True)
class Tables:
    """The aggregated tables the claims read (None when absent)."""

    summary: pl.DataFrame | None
    trials: pl.DataFrame | None
    mmlu: pl.DataFrame | None
    mmlu_items: pl.DataFrame | None
    glue: pl.DataFrame | None

    @classmethod
    def read(cls, tables_dir: str | os.PathLike[str]) -> Tables:
        return cls(*(read_table(tables_dir, name) for name in (
            "retrieval_summary", "retrieval_trials", "mmlu_summary", "mmlu_items", "glue_summary"
        )))


Check = Callable[[Tables, str, ClaimsConfig], ClaimResult]
# claim id -> (check, paper value, the tables it needs)
CHECKS: dict[str, tuple[Check, Callable[[ClaimsConfig], float], tuple[str, ...]]] = {
    "1": (claim_ablation, lambda c: 0.0, ("summary", "trials")),
    "2": (claim_jrt, lambda c: 0.0, ("summary", "trials")),
    "3": (claim_sparsity, lambda c: c.sparsity_paper_fraction, ("trials",)),
    "4": (claim_mmlu, lambda c: c.mmlu_paper_retention, ("mmlu", "mmlu_items")),
    "5a": (claim_hidden, lambda c: 0.0, ("summary", "trials")),
    "5b": (claim_context, lambda c: 1.0, ("summary", "trials")),
}
