"""The smallest k that keeps a fraction of the all-heads metric (pure polars, no torch: the aggregation
and report rules run without it)."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from hybrid_retrieval.errors import ConfigError


def smallest_k_keeping(
    df: pl.DataFrame,
    fraction: float = 0.95,
    *,
    metric: str = "exact_rate",
    by: Sequence[str] = ("model",),
) -> pl.DataFrame:
    """Per group, the smallest k whose `metric` is at least `fraction` x the metric at the largest k.

    `df` holds one row per (group, k), e.g. the k sweep's summary. The reference is the largest k in the
    group (all heads); a group where the reference is 0 keeps nothing to compare with and is reported
    with k_min = null so that it is not mistaken for "k = 0 suffices".
    """
    if not 0 < fraction <= 1:
        raise ConfigError(f"fraction must be in (0, 1], got {fraction}")
    missing = {"k", metric, *by} - set(df.columns)
    if missing:
        raise ConfigError(f"smallest_k_keeping needs columns {sorted(missing)}; got {df.columns}")
    by = list(by)
    reference = (
        df.sort("k")
        .group_by(by, maintain_order=True)
        .agg(pl.col("k").max().alias("k_max"), pl.col(metric).last().alias("reference"))
    )
    joined = df.join(reference, on=by).with_columns(
        (pl.col(metric) >= fraction * pl.col("reference")).alias("ok")
    )
    best = (
        joined.filter(pl.col("ok") & (pl.col("reference") > 0))
        .sort("k")
        .group_by(by, maintain_order=True)
        .agg(pl.col("k").first().alias("k_min"), pl.col(metric).first().alias("value"))
    )
    out = reference.join(best, on=by, how="left").with_columns(
        (pl.col("k_min") / pl.col("k_max")).alias("kept_fraction"), pl.lit(fraction).alias("fraction")
    )
    return out.select(*by, "k_min", "k_max", "kept_fraction", "value", "reference", "fraction").sort(by)
