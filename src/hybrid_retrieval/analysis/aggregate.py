"""Per-trial result files -> tidy summary tables under `results/tables/` (parquet + csv).

Every table is written even when its inputs are absent (with zero rows and the full schema), so a
Snakemake rule can always name its outputs; `claims` reads "no rows" as NOT RUN.

Tables (INTERFACES.md "Aggregation and report"):
- `retrieval_summary`: one row per model x experiment x condition x phase x prompt variant.
- `retrieval_cells`: the same, also split by context_length x depth (the heatmaps).
- `sparsity_curve`: the k sweep (E4) with k, kept fraction and the rate relative to all heads.
- `sparsity_threshold`: per model x kind x phase x prompt variant, the smallest k keeping >= 95% of intact.
- `mmlu_summary`: multiple-choice accuracy per model x dataset x condition, with retention acc(k)/acc(H).
- `mmlu_subjects`: the same per subject.
- `glue_summary`: GLUE per model x dataset x task x metric x condition (acc; mcc for CoLA; f1 for MRPC,
  QQP, as lm-eval reports them), with retention value(k) / value(all heads).
- `heads`: head scores joined with the attention recordings (kept rate, needle mass) per layer x head.
- `retrieval_trials`: every retrieval trial (keys, cell, haystack, needle, prompt hash, outcome): what the
  claims pair (the same trial under two conditions) and count once per distinct prompt.
- `mmlu_items`: every multiple-choice question's outcome per condition (the claims' paired bootstrap).
Rates count trials; `n_distinct` beside `n` counts distinct model inputs (prompt hashes): greedy decoding
of one input gives one output, so duplicates are not independent evidence (ARTIFACT.md, "Evidence").
Polars `group_by` does not keep order, so every table is sorted before it is written.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import polars as pl

from hybrid_retrieval.analysis.retention import smallest_k_keeping
from hybrid_retrieval.errors import ConfigError, DataError
from hybrid_retrieval.filenames import TABLE_NAMES
from hybrid_retrieval.io import write_csv, write_parquet
from hybrid_retrieval.rows import (  # the columns the summaries read, each cast to one dtype
    GLUE_COLUMNS,
    HEAD_SCORE_COLUMNS,
    MC_COLUMNS,
    RECORDING_COLUMNS,
    RETRIEVAL_COLUMNS,
)

log = logging.getLogger(__name__)

Z_95 = 1.959963984540054  # two-sided 95% normal quantile, for the Wilson interval

RETRIEVAL_KEYS = [
    "model",
    "experiment",
    "condition",
    "kind",
    "k",
    "num_heads",
    "kept_fraction",
    "phase",
    "generation_mode",
    "prefill_mode",
    "prompt_variant",
]
CELL_KEYS = [*RETRIEVAL_KEYS, "context_length", "depth"]
MC_KEYS = ["model", "dataset", "condition", "kind", "k", "num_heads", "kept_fraction", "phase"]
SWEEP_KINDS = ("entropy_topk", "random_k", "static_heads")


def wilson_interval(successes: pl.Expr, n: pl.Expr, z: float = Z_95) -> tuple[pl.Expr, pl.Expr]:
    """Wilson score interval for a binomial rate. Unlike the normal approximation it stays inside [0, 1]
    and is not degenerate at 0% or 100%, which is exactly where the ablation results sit."""
    p = successes / n
    z2 = z * z
    denom = 1 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = z * ((p * (1 - p) / n + z2 / (4 * n * n)).sqrt()) / denom
    return (center - half).clip(0.0, 1.0), (center + half).clip(0.0, 1.0)


def _empty(columns: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=columns)


def _read_selected(
    paths: list[Path], columns: dict[str, pl.DataType], derived: dict[str, pl.Expr] | None = None
) -> pl.DataFrame:
    """Read the needed columns of every file, cast to one schema and concatenate (empty if no files).
    `derived`: columns added after the file was written, computed from its other columns when absent."""
    frames = []
    for path in paths:
        df = pl.read_parquet(path)
        absent = {c: e for c, e in (derived or {}).items() if c not in df.columns}
        if absent:
            df = df.with_columns(e.alias(c) for c, e in absent.items())
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise DataError(
                f"{path} lacks the columns {missing} (INTERFACES.md schema); regenerate it with the current "
                "package version, or delete it so the workflow rebuilds it"
            )
        if "limit" in df.columns and df["limit"].is_not_null().any():
            raise DataError(
                f"{path} holds a quick look (`hybrid-retrieval ... --limit {df['limit'].drop_nulls()[0]}`: "
                "only the first trials or questions), not a whole result; move it out of the results "
                "folder (the CLI writes limited runs under results/limit-N/ by default) and rerun"
            )
        frames.append(df.select([pl.col(c).cast(t) for c, t in columns.items()]))
    return pl.concat(frames, how="vertical") if frames else _empty(columns)


def _files(results_dir: Path, pattern: str) -> list[Path]:
    # results/tables holds our own outputs, never per-model inputs.
    return sorted(p for p in results_dir.glob(pattern) if p.parts[-3] != "tables")


def load_retrieval_trials(results_dir: str | os.PathLike[str]) -> pl.DataFrame:
    """Every `results/{model}/retrieval/{experiment}.parquet`, concatenated (columns of RETRIEVAL_COLUMNS)."""
    return _read_selected(_files(Path(results_dir), "*/retrieval/*.parquet"), RETRIEVAL_COLUMNS)


def load_mc_rows(results_dir: str | os.PathLike[str]) -> pl.DataFrame:
    """Every `results/{model}/mmlu/{condition}.parquet`, concatenated (columns of MC_COLUMNS)."""
    # Rows written before `question_key` existed hold one item per question (no arrangements), so their
    # key is the question's own id: an existing real-model run is not rescored for it.
    legacy_key = {"question_key": pl.col("subject") + "/" + pl.col("question_id")}
    return _read_selected(_files(Path(results_dir), "*/mmlu/*.parquet"), MC_COLUMNS, legacy_key)


def _rate_columns(n: pl.Expr, hits: pl.Expr, rate_name: str) -> list[pl.Expr]:
    low, high = wilson_interval(hits.cast(pl.Float64), n.cast(pl.Float64))
    some = n > 0  # no trial (e.g. every needle out of the window): no rate, not NaN
    return [
        pl.when(some).then(hits / n).alias(rate_name),
        pl.when(some).then(low).alias("ci_low"),
        pl.when(some).then(high).alias("ci_high"),
    ]


def summarize_retrieval(trials: pl.DataFrame, *, by_cell: bool = False) -> pl.DataFrame:
    """Exact-retrieval rate (score 5) with its 95% Wilson interval and mean score / 5, per condition
    (and per context length x depth cell when `by_cell`).

    Window-aware: per condition, `n`, `n_exact`, `exact_rate`, its interval and `mean_score` count only the
    trials whose needle is reachable (`reachable`: within the local attention window of the first answer
    step; every trial of a global-attention model), so a windowed model is not charged for cells no
    attention can reach; `n_all` and `exact_rate_all` count every trial. Per cell every trial counts
    (the heatmaps show the unreachable cells as they are) and `reachable` says whether the cell's were."""
    keys = CELL_KEYS if by_cell else RETRIEVAL_KEYS
    counted = pl.col("exact").is_not_null() if by_cell else pl.col("reachable")  # by cell: every trial
    grouped = trials.group_by(keys).agg(
        counted.sum().cast(pl.Int64).alias("n"),
        (pl.col("exact") & counted).sum().cast(pl.Int64).alias("n_exact"),
        (pl.col("score").filter(counted).mean() / 5.0).alias("mean_score"),
        pl.col("prompt_hash").filter(counted).n_unique().cast(pl.Int64).alias("n_distinct"),
        pl.len().cast(pl.Int64).alias("n_all"),
        pl.col("exact").sum().cast(pl.Int64).alias("n_exact_all"),
        pl.col("reachable").all().alias("reachable"),
    )
    out = grouped.with_columns(
        *_rate_columns(pl.col("n"), pl.col("n_exact"), "exact_rate"),
        (pl.col("n_exact_all") / pl.col("n_all")).alias("exact_rate_all"),
    )
    extra = ["reachable"] if by_cell else ["n_all", "exact_rate_all"]
    return out.select(
        *keys, "n", "n_distinct", "n_exact", "exact_rate", "ci_low", "ci_high", "mean_score", *extra
    ).sort(keys, nulls_last=True)


def _intact_reference(summary: pl.DataFrame, keys: list[str], metric: str) -> pl.DataFrame:
    """The all-heads value per group: entropy top-k at k = H (the paper's reference), else no intervention."""
    intact = summary.filter(
        (pl.col("kind") == "none")
        | ((pl.col("kind") == "entropy_topk") & (pl.col("k") == pl.col("num_heads")))
    )
    # "entropy_topk" sorts before "none": prefer the sweep's own k = H point when both exist.
    return (
        intact.sort([*keys, "kind"])
        .group_by(keys, maintain_order=True)
        .agg(pl.col(metric).first().alias(f"intact_{metric}"))
    )


def sparsity_curve(summary: pl.DataFrame, *, experiment: str = "sparsity_sweep") -> pl.DataFrame:
    """Exact rate vs k and vs kept fraction per model x kind x phase x prompt variant, with the rate
    relative to all heads kept (`relative_to_intact`)."""
    sweep = summary.filter((pl.col("experiment") == experiment) & pl.col("kind").is_in(SWEEP_KINDS))
    # The static-head control is defined by a head list, not k; its k per layer is kept_fraction x H.
    sweep = sweep.with_columns(
        pl.coalesce(
            pl.col("k"), (pl.col("kept_fraction") * pl.col("num_heads")).round().cast(pl.Int64)
        ).alias("k")
    )
    group = ["model", "phase", "prompt_variant"]
    reference = _intact_reference(summary.filter(pl.col("experiment") == experiment), group, "exact_rate")
    fallback = _intact_reference(summary, group, "exact_rate").rename({"intact_exact_rate": "fallback"})
    out = (
        sweep.join(reference, on=group, how="left", nulls_equal=True)
        .join(fallback, on=group, how="left", nulls_equal=True)
        .with_columns(pl.coalesce("intact_exact_rate", "fallback").alias("intact_exact_rate"))
        .with_columns(
            pl.when(pl.col("intact_exact_rate") > 0)
            .then(pl.col("exact_rate") / pl.col("intact_exact_rate"))
            .otherwise(None)
            .alias("relative_to_intact")
        )
    )
    cols = [
        "model",
        "kind",
        "phase",
        "prompt_variant",
        "condition",
        "k",
        "num_heads",
        "kept_fraction",
        "n",
        "n_distinct",
        "exact_rate",
        "ci_low",
        "ci_high",
        "mean_score",
        "intact_exact_rate",
        "relative_to_intact",
    ]
    return out.select(cols).sort(["model", "kind", "phase", "prompt_variant", "k"], nulls_last=True)


def sparsity_threshold(curve: pl.DataFrame, *, fraction: float = 0.95) -> pl.DataFrame:
    """Per model x kind x phase x prompt variant: the smallest k whose exact rate is >= `fraction` x the
    rate at the largest k swept (retention.smallest_k_keeping), and its kept fraction."""

    by = ["model", "kind", "phase", "prompt_variant"]
    schema = {
        **{c: pl.String() for c in by},
        "k_min": pl.Int64(),
        "k_max": pl.Int64(),
        "num_heads": pl.Int64(),
        "kept_fraction": pl.Float64(),
        "value": pl.Float64(),
        "reference": pl.Float64(),
        "fraction": pl.Float64(),
    }
    rows = curve.filter(pl.col("k").is_not_null())
    if rows.is_empty():
        return _empty(schema)
    found = smallest_k_keeping(rows.select(*by, "k", "exact_rate"), fraction, metric="exact_rate", by=by)
    heads = rows.group_by(by).agg(pl.col("num_heads").max())
    out = found.join(heads, on=by, how="left")
    # kept fraction against all heads (H), not against the largest k swept, which may be smaller than H.
    out = out.with_columns((pl.col("k_min") / pl.col("num_heads")).alias("kept_fraction"))
    return out.select([pl.col(c).cast(t) for c, t in schema.items()]).sort(by)


def mmlu_summary(rows: pl.DataFrame, *, by_subject: bool = False) -> pl.DataFrame:
    """Multiple-choice accuracy (micro average over items) with a Wilson interval over questions: `n` items,
    `n_questions` distinct questions (`question_key`; the toys ask each test fact in 8 arrangements, which
    are one observation, so the interval takes the accuracy over n_questions, not n); per condition also
    the macro average over subjects and the retention accuracy(condition) / accuracy(all heads)."""
    keys = [*MC_KEYS, "subject"] if by_subject else MC_KEYS
    per_subject = rows.group_by([*MC_KEYS, "subject"]).agg(pl.col("correct").mean().alias("subject_accuracy"))
    grouped = rows.group_by(keys).agg(
        pl.len().cast(pl.Int64).alias("n"),
        pl.col("question_key").n_unique().cast(pl.Int64).alias("n_questions"),
        pl.col("correct").sum().cast(pl.Int64).alias("n_correct"),
    )
    accuracy = pl.col("n_correct") / pl.col("n")
    low, high = wilson_interval(accuracy * pl.col("n_questions"), pl.col("n_questions").cast(pl.Float64))
    out = grouped.with_columns(accuracy.alias("accuracy"), low.alias("ci_low"), high.alias("ci_high"))
    if not by_subject:
        macro = per_subject.group_by(MC_KEYS).agg(pl.col("subject_accuracy").mean().alias("macro_accuracy"))
        out = out.join(macro, on=MC_KEYS, how="left", nulls_equal=True)
    ref_keys = ["model", "dataset", *(["subject"] if by_subject else [])]
    reference = _intact_reference(out, ref_keys, "accuracy")
    out = out.join(reference, on=ref_keys, how="left", nulls_equal=True).with_columns(
        pl.when(pl.col("intact_accuracy") > 0)
        .then(pl.col("accuracy") / pl.col("intact_accuracy"))
        .otherwise(None)
        .alias("retention")
    )
    extra = [] if by_subject else ["macro_accuracy"]
    cols = [*keys, "n", "n_questions", "n_correct", "accuracy", "ci_low", "ci_high", *extra]
    cols += ["intact_accuracy", "retention"]
    return out.select(cols).sort(keys, nulls_last=True)


GLUE_KEYS = ["model", "dataset", "task", "condition", "kind", "k", "num_heads", "kept_fraction", "phase"]


def load_glue_rows(results_dir: str | os.PathLike[str]) -> pl.DataFrame:
    """Every `results/{model}/glue/{task}/{condition}.parquet`, concatenated (columns of GLUE_COLUMNS)."""
    files = sorted(p for p in Path(results_dir).glob("*/glue/*/*.parquet") if p.parts[-4] != "tables")
    return _read_selected(files, GLUE_COLUMNS)


def glue_summary(rows: pl.DataFrame) -> pl.DataFrame:
    """Each GLUE task's lm-eval metrics per condition (one row per metric: acc, mcc, f1), with the
    retention value(condition) / value(all heads); null where the all-heads value is not > 0 (an MCC
    at or below chance has nothing to retain)."""
    from hybrid_retrieval.tasks.glue import glue_task, metric_value

    schema = {
        **{c: GLUE_COLUMNS[c] for c in GLUE_KEYS},
        "metric": pl.String(),
        "n": pl.Int64(),
        "value": pl.Float64(),
    }
    out = []
    for key, group in rows.group_by(GLUE_KEYS, maintain_order=True):
        fields = dict(zip(GLUE_KEYS, key, strict=True))
        labels, predictions = group["label"].to_list(), group["prediction"].to_list()
        for metric in glue_task(fields["task"]).metrics:
            value = metric_value(metric, labels, predictions)
            out.append({**fields, "metric": metric, "n": group.height, "value": value})
    summary = pl.DataFrame(out, schema=schema)
    ref_keys = ["model", "dataset", "task", "metric"]
    reference = _intact_reference(summary, ref_keys, "value")
    summary = summary.join(reference, on=ref_keys, how="left", nulls_equal=True).with_columns(
        pl.when(pl.col("intact_value") > 0)
        .then(pl.col("value") / pl.col("intact_value"))
        .otherwise(None)
        .alias("retention")
    )
    order = ["model", "dataset", "task", "metric", "kind", "k"]
    return summary.select(
        "model", "dataset", "task", "metric", *GLUE_KEYS[3:], "n", "value", "intact_value", "retention"
    ).sort(order, descending=[False, False, False, False, False, True], nulls_last=True)


def head_table(scores: pl.DataFrame, recordings: pl.DataFrame) -> pl.DataFrame:
    """One row per model x layer x head: the static-control scores and, from the recordings, how often the
    entropy rule kept the head, its mean entropy during generation and its mean attention mass on the needle."""
    key = ["model", "layer_index", "head"]
    recorded = recordings.group_by(key).agg(
        pl.len().cast(pl.Int64).alias("recorded_steps"),
        pl.col("kept").cast(pl.Float64).mean().alias("kept_rate"),
        pl.col("entropy").mean().alias("recorded_entropy"),
        pl.col("needle_mass").mean().alias("needle_mass"),
    )
    out = scores.join(recorded, on=key, how="full", coalesce=True)
    cols = [*key, *[c for c in HEAD_SCORE_COLUMNS if c not in key], "recorded_steps", "kept_rate"]
    return out.select(*cols, "recorded_entropy", "needle_mass").sort(key)


def aggregate(
    results_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    retention_fraction: float = 0.95,
) -> dict[str, Path]:
    """Read every per-trial file under `results_dir` and write the tables of TABLE_NAMES to `out_dir` as
    `<name>.parquet` and `<name>.csv`. Returns {name: parquet path}."""
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    if not results_dir.is_dir():
        raise DataError(f"results directory {results_dir} does not exist; run the experiments first")
    if not 0 < retention_fraction <= 1:
        raise ConfigError(f"retention_fraction must be in (0, 1], got {retention_fraction}")
    trials = load_retrieval_trials(results_dir)
    mc = load_mc_rows(results_dir)
    scores = _read_selected(_files(results_dir, "*/heads/scores.parquet"), HEAD_SCORE_COLUMNS)
    recordings = _read_selected(_files(results_dir, "*/recordings/heads.parquet"), RECORDING_COLUMNS)
    log.info("aggregating %d retrieval trials, %d multiple-choice rows", trials.height, mc.height)

    summary = summarize_retrieval(trials)
    curve = sparsity_curve(summary)
    tables = {
        "retrieval_summary": summary,
        "retrieval_cells": summarize_retrieval(trials, by_cell=True),
        "sparsity_curve": curve,
        "sparsity_threshold": sparsity_threshold(curve, fraction=retention_fraction),
        "mmlu_summary": mmlu_summary(mc),
        "mmlu_subjects": mmlu_summary(mc, by_subject=True),
        "glue_summary": glue_summary(load_glue_rows(results_dir)),
        "heads": head_table(scores, recordings),
        "retrieval_trials": trials.sort([*CELL_KEYS, "trial_id"], nulls_last=True),
        "mmlu_items": mc.sort([*MC_KEYS, "subject", "question_id"], nulls_last=True),
    }
    written = {}
    for name in TABLE_NAMES:
        written[name] = write_parquet(tables[name], out_dir / f"{name}.parquet")
        write_csv(tables[name], out_dir / f"{name}.csv")
    return written


def read_table(tables_dir: str | os.PathLike[str], name: str) -> pl.DataFrame | None:
    """A table written by `aggregate`, or None when its file is absent."""
    if name not in TABLE_NAMES:
        raise ConfigError(f"unknown table {name!r}; the tables are {list(TABLE_NAMES)}")
    path = Path(tables_dir) / f"{name}.parquet"
    return pl.read_parquet(path) if path.exists() else None
