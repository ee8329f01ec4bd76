"""The paper's claims (arXiv 2510.19861, abstract; listed in ARTIFACT.md) decided from the aggregated tables.

One row per claim x model in `results/claims.csv` (CLAIMS_COLUMNS): the claim, the sentence of the paper it
tests (`quote`), whether the claim is the paper's for this model or our extension of it (`scope`: the paper
ran needle exposure on RecurrentGemma only), the deciding statistic's estimate, its confidence interval at
`level` and its n (distinct prompts or questions), the threshold it is compared with, the status and, for an
INCONCLUSIVE verdict, about how many trials per condition would decide it and the config key that sets them.

Status (hybrid_retrieval.statistics): PASS when the whole interval meets the criterion, FAIL when the whole
interval violates it, INCONCLUSIVE when it straddles the threshold, NOT RUN when the rows a claim needs are
absent (never that a check failed). A claim checked on several cells FAILs if any cell fails and PASSes only
if every cell passes. Trials with identical model inputs under one condition count once (prompt hashes).
Thresholds are config values (`ClaimsConfig`): the paper gives words ("0%", "near-perfect"), we give numbers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pydantic

from hybrid_retrieval.aggregate import read_table
from hybrid_retrieval.config.claims import ClaimsConfig
from hybrid_retrieval.errors import ConfigError
from hybrid_retrieval.io import write_csv
from hybrid_retrieval.statistics import (
    FAIL,
    INCONCLUSIVE,
    NOT_RUN,
    PASS,
    Decision,
    combine,
    decide_paired_difference,
    decide_rate,
    decide_ratio,
)

__all__ = ["PASS", "FAIL", "INCONCLUSIVE", "NOT_RUN", "CLAIMS_COLUMNS", "CLAIM_IDS", "evaluate_claims"]

CLAIM_IDS = ("1", "2", "3", "4", "5a", "5b")
CLAIM_TEXT = {
    "1": "Attention ablation (k = 0) makes needle retrieval fail (0%)",
    "2": "No SSM compensation: Just Read Twice prompting does not recover retrieval with no attention head (k = 0)",
    "3": "About 15% of the attention heads keep near-perfect retrieval, and more heads do not lose it",
    "4": "The sparsified model keeps ~84% of its MMLU accuracy (acc(k) / acc(all heads))",
    "5a": "Retrieval fails when the needle is hidden from attention during generation",
    "5b": "With the needle exposed in generation, retrieval needs the context in prefill or in generation",
}
# The sentence of the paper's abstract each claim tests (the report and the paper show it).
CLAIM_QUOTES = {
    "1": "attention ablation causes catastrophic retrieval failure (0% accuracy)",
    "2": "SSM layers show no compensatory mechanisms even with improved prompting",
    "3": "sparsifying attention to just 15% of heads maintains near-perfect retrieval",
    "4": "while preserving 84% MMLU performance",
    "5a": "needle tokens must be exposed during generation",
    "5b": "sufficient context must be available during prefill or generation",
}
# Which config key sets the trials behind each claim's deciding cells (named for INCONCLUSIVE verdicts).
TRIALS_KEYS = {
    "1": "retrieval.trials_per_cell (the attention_ablation grid)",
    "2": "experiments.jrt.grid.trials_per_cell",
    "3": "experiments.sparsity_sweep.grid.trials_per_cell",
    "4": "experiments.mmlu.max_questions_per_subject (or a larger MC set)",
    "5a": "experiments.exposure.grid.trials_per_cell",
    "5b": "experiments.exposure.grid.trials_per_cell",
}
EXPOSURE_CLAIMS = ("5a", "5b")  # the paper ran needle exposure on RecurrentGemma only
CLAIMS_COLUMNS = [
    "claim_id",
    "claim",
    "quote",
    "scope",
    "model",
    "paper_value",
    "estimate",
    "ci_low",
    "ci_high",
    "level",
    "n",
    "threshold",
    "status",
    "trials_needed",
    "trials_key",
    "detail",
]
SCHEMA: dict[str, pl.DataType] = {
    "claim_id": pl.String(),
    "claim": pl.String(),
    "quote": pl.String(),
    "scope": pl.String(),
    "model": pl.String(),
    "paper_value": pl.Float64(),
    "estimate": pl.Float64(),
    "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
    "level": pl.Float64(),
    "n": pl.Int64(),
    "threshold": pl.Float64(),
    "status": pl.String(),
    "trials_needed": pl.Int64(),
    "trials_key": pl.String(),
    "detail": pl.String(),
}
STANDARD = ~pl.col("prompt_variant").str.ends_with("jrt")


@dataclass(frozen=True)
class ClaimResult:
    status: str
    decision: Decision | None = None
    detail: str = ""


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


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
            .select(*key, "correct")
            .join(ds.filter(pl.col("k") == heads).select(*key, pl.col("correct").alias("intact")), on=key)
        )
        if pairs.is_empty():
            return ClaimResult(NOT_RUN, detail=f"{dataset}: no question answered both at k = {k} and with all heads")
        label = f"{dataset}: acc(k={k} of {heads}) / acc(all heads) = "
        target, tol = cfg.mmlu_paper_retention, cfg.mmlu_tolerance
        a, b = pairs["correct"].to_list(), pairs["intact"].to_list()
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


def criteria(cfg: ClaimsConfig | None = None) -> dict[str, str]:
    """Each claim's criterion in words, from the config: the one place it is stated. ARTIFACT.md quotes
    `criteria_markdown()` of the defaults (a test keeps them equal) and the report shows it."""
    c = cfg or ClaimsConfig()
    lvl = f"{100 * c.level:g}%"
    hidden = "/".join(c.exposure_hidden_modes)
    cells = "; ".join(
        f"generation {x.generation_mode} with prefill {x.prefill_mode} should {x.expect}"
        for x in c.exposure_context_cells
    )
    mmlu = (
        f"the interval lies at or above {c.mmlu_paper_retention - c.mmlu_tolerance:.2f} (the paper's "
        f"{c.mmlu_paper_retention:.2f} as a floor, less {c.mmlu_tolerance:.2f})"
        if c.mmlu_mode == "at_least"
        else f"the interval lies inside {c.mmlu_paper_retention:.2f} +- {c.mmlu_tolerance:.2f}"
    )
    return {
        "0": (
            f"every verdict is decided from a {lvl} confidence interval: PASS when the whole interval meets the "
            "criterion, FAIL when the whole interval violates it, INCONCLUSIVE when it straddles the threshold "
            "(with about how many trials per condition would decide it). Rates: Wilson interval; paired "
            "conditions on the same trials: Newcombe's paired interval; MMLU retention: paired percentile "
            "bootstrap over questions. Trials with identical model inputs count once. Gate (claims 1, 2, 3, 5): "
            f"intact (baseline) exact rate >= {_pct(c.min_intact_exact)}, else FAIL \"not testable\"; only "
            "trials whose needle is within reach of the attention window count"
        ),
        "1": f"at k = 0, in every phase run, the exact rate's interval lies at or below {_pct(c.failure_max)}",
        "2": (
            f"at k = 0, JRT exact rate - standard-prompt exact rate on the same haystacks lies at or below "
            f"{_pct(c.jrt_tolerance)}; k in {list(c.jrt_report_ks)} are reported, not decided"
        ),
        "3": (
            f"at k nearest {_pct(c.sparsity_paper_fraction)} of the heads (ties to the larger k) and at every "
            f"larger k below all heads (phase {c.sparsity_phase}, entropy top-k, standard prompts): exact rate "
            f">= {_pct(c.near_perfect_min)} (near-perfect, absolutely) and rate(k) - rate(all heads) on the "
            f"same prompts >= -{_pct(c.near_perfect_margin)} (near-perfect, relative to the intact model)"
        ),
        "4": (
            f"MMLU retention r = acc(k) / acc(all heads) on the same questions: {mmlu}; k from claims.mmlu_k, "
            f"else nearest {_pct(c.sparsity_paper_fraction)} of the heads; all-heads accuracy >= "
            f"{_pct(c.min_intact_accuracy)} else \"not testable\"; GLUE retention reported beside it, not checked"
        ),
        "5a": (
            f"every exposure cell with generation mode {hidden} (any prefill mode): exact rate at or below "
            f"{_pct(c.failure_max)}"
        ),
        "5b": (
            f"{cells}; retrieve = exact rate at or above {_pct(c.retrieve_min)}, fail = at or below "
            f"{_pct(c.failure_max)}. Claims 5a and 5b are the paper's on RecurrentGemma; on other families "
            "they are our extension (scope column)"
        ),
    }


def criteria_markdown(cfg: ClaimsConfig | None = None) -> str:
    """The criteria as a Markdown list (ARTIFACT.md quotes this text verbatim)."""
    labels = {"0": "Decision rule and gate"}
    return "\n".join(
        f"- **{labels.get(claim_id, f'Claim {claim_id}')}**"
        + (f" (\"{CLAIM_QUOTES[claim_id]}\")" if claim_id in CLAIM_QUOTES else "")
        + f": {text}"
        for claim_id, text in criteria(cfg).items()
    )


def parse_claims_config(claims_config: Mapping[str, object] | ClaimsConfig | None) -> ClaimsConfig:
    if isinstance(claims_config, ClaimsConfig):
        return claims_config
    try:
        return ClaimsConfig(**dict(claims_config or {}))
    except pydantic.ValidationError as err:
        raise ConfigError(
            f"invalid claims config: {err}; the allowed keys and defaults are {ClaimsConfig().model_dump()}"
        ) from err


def _scope(claim_id: str, family: str | None) -> str:
    if claim_id in EXPOSURE_CLAIMS and family != "recurrent_gemma":
        return "extension"
    return "paper"


def evaluate_claims(
    tables_dir: str | os.PathLike[str],
    out_csv: str | os.PathLike[str] | None = None,
    claims_config: Mapping[str, object] | ClaimsConfig | None = None,
    *,
    models: Sequence[str] | None = None,
    families: Mapping[str, str | None] | None = None,
) -> pl.DataFrame:
    """Decide every claim for every model and write the rows to `out_csv` (when given).

    `models`: the models the config ran (so a model with no results shows NOT RUN rather than vanishing);
    default: every model found in the tables. `families`: model -> architecture family (the scope column:
    exposure claims are the paper's on recurrent_gemma only); unknown families count as extensions.
    """
    cfg = parse_claims_config(claims_config)
    tables = Tables.read(tables_dir)
    if models is None:
        found: set[str] = set()
        for table in (tables.summary, tables.mmlu):
            if table is not None:
                found |= set(table["model"].unique().to_list())
        models = sorted(found)
    rows = []
    for claim_id, (check, paper_value, needs) in CHECKS.items():
        for model in models or ["*"]:
            absent = [name for name in needs if getattr(tables, name) is None]
            if absent:
                result = ClaimResult(NOT_RUN, detail=f"table(s) {absent} absent")
            else:
                result = check(tables, model, cfg)
            detail = result.detail
            if claim_id == "4":
                note = glue_note(tables.glue, model, cfg)
                detail = f"{detail}; {note}" if detail else note
            d = result.decision
            rows.append(
                {
                    "claim_id": claim_id,
                    "claim": CLAIM_TEXT[claim_id],
                    "quote": CLAIM_QUOTES[claim_id],
                    "scope": _scope(claim_id, (families or {}).get(model)),
                    "model": model,
                    "paper_value": paper_value(cfg),
                    "estimate": None if d is None else d.estimate,
                    "ci_low": None if d is None else d.low,
                    "ci_high": None if d is None else d.high,
                    "level": cfg.level,
                    "n": None if d is None else d.n,
                    "threshold": None if d is None else d.threshold,
                    "status": result.status,
                    "trials_needed": d.trials_needed if d is not None and result.status == INCONCLUSIVE else None,
                    "trials_key": TRIALS_KEYS[claim_id] if result.status == INCONCLUSIVE else None,
                    "detail": detail,
                }
            )
    df = pl.DataFrame(rows, schema=SCHEMA).sort("claim_id", "model")
    if out_csv is not None:
        write_csv(df, Path(out_csv))
    return df


def read_claims(claims_csv: str | os.PathLike[str]) -> pl.DataFrame:
    """results/claims.csv as written by `evaluate_claims` (types restored)."""
    path = Path(claims_csv)
    if not path.exists():
        from hybrid_retrieval.errors import DataError

        raise DataError(
            f"claims file {path} does not exist; run `hybrid-retrieval aggregate` and the claims step first"
        )
    return pl.read_csv(path, schema_overrides=SCHEMA).select(CLAIMS_COLUMNS)
