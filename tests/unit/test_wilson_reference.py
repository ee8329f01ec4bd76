"""aggregate.wilson_interval (ours: a polars expression) against statsmodels' independent implementation."""

import polars as pl
import pytest
from statsmodels.stats.proportion import proportion_confint

from hybrid_retrieval.analysis.aggregate import wilson_interval

# Every success count of small n (where the ablation results sit: 0% and 100% included) and a few large n.
CASES = [(k, n) for n in (1, 2, 5, 18, 40) for k in range(n + 1)] + [(0, 1000), (1, 1000), (843, 1000)]


def test_wilson_interval_matches_statsmodels():
    df = pl.DataFrame(
        {"k": [k for k, _ in CASES], "n": [n for _, n in CASES]}, schema={"k": pl.Float64, "n": pl.Float64}
    )
    low, high = wilson_interval(pl.col("k"), pl.col("n"))
    ours = df.select(low.alias("low"), high.alias("high"))
    for (k, n), row in zip(CASES, ours.iter_rows(named=True), strict=True):
        ref_low, ref_high = proportion_confint(k, n, alpha=0.05, method="wilson")
        assert row["low"] == pytest.approx(ref_low, abs=1e-12), (k, n)
        assert row["high"] == pytest.approx(ref_high, abs=1e-12), (k, n)


def test_the_reference_tells_the_wilson_interval_from_the_normal_one():
    # The cross-check can fail: the normal (Wald) interval, which the Wilson one replaced, differs.
    wald = proportion_confint(1, 18, alpha=0.05, method="normal")
    wilson = proportion_confint(1, 18, alpha=0.05, method="wilson")
    assert abs(wald[1] - wilson[1]) > 0.05
