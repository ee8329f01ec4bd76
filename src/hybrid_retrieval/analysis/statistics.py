"""Confidence intervals and the three-way decision every claim verdict is made with.

A claim compares a statistic with a threshold. Its verdict is decided from the statistic's confidence
interval at `level`: PASS when the whole interval meets the criterion, FAIL when the whole interval
violates it, INCONCLUSIVE otherwise, with the number of trials per condition that would decide it at the
same estimate. The intervals (scipy.stats for the quantiles and the bootstrap; the formulas are checked
against statsmodels in tests/unit/test_statistics.py):

- a rate (k successes of n trials): the Wilson score interval;
- a difference between two conditions run on the same trials (JRT vs standard prompt on the same
  haystacks, sparsified vs intact on the same prompts): Newcombe's square-and-add interval for paired
  proportions (Newcombe 1998, method 10; Fagerland, Lydersen & Laake 2014 recommend it): the two Wilson
  intervals combined with the correlation of the pairs, so a difference of two 0/n rates is not decided
  by an interval of width zero, as a bootstrap would give;
- a ratio of two accuracies over the same questions (MMLU retention acc(k) / acc(all heads)): a paired
  percentile bootstrap over questions (seeded; scipy.stats.bootstrap). Chosen over the delta method
  because the ratio is skewed and bounded at small n, where the delta method's normal approximation is
  poor; percentile rather than BCa because BCa is undefined when every resample gives the same value (an
  all-correct toy).

Torch-free: the aggregation/report env imports it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

PASS, FAIL, INCONCLUSIVE, NOT_RUN = "PASS", "FAIL", "INCONCLUSIVE", "NOT RUN"
Direction = Literal["<=", ">="]
_MAX_N = 1_000_000
BOOTSTRAP_RESAMPLES = 9999


def z_value(level: float) -> float:
    """Two-sided normal quantile for a confidence level (0.95 -> 1.96)."""
    if not 0 < level < 1:
        raise ValueError(f"confidence level must be in (0, 1), got {level}")
    return float(stats.norm.ppf(0.5 + level / 2))


def wilson(successes: float, n: float, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a rate successes / n (n > 0)."""
    if n <= 0:
        raise ValueError("a rate needs n > 0 trials")
    z = z_value(level)
    p = successes / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(max(p * (1 - p) / n + z * z / (4 * n * n), 0.0)) / denom
    # exactly 0 / 1 at the ends (the formula's rounding would leave 1e-17 / 1 - 1e-16)
    low = 0.0 if successes <= 0 else max(center - half, 0.0)
    high = 1.0 if successes >= n else min(center + half, 1.0)
    return low, high


def newcombe_paired(
    both: float, first_only: float, second_only: float, neither: float, level: float = 0.95
) -> tuple[float, float, float]:
    """(difference, low, high) of p1 - p2 for paired binary outcomes, Newcombe's method 10.

    both / first_only / second_only / neither: pairs with (1, 1), (1, 0), (0, 1), (0, 0)."""
    a, b, c, d = both, first_only, second_only, neither
    n = a + b + c + d
    if n <= 0:
        raise ValueError("a paired difference needs at least one pair")
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = wilson(a + b, n, level)
    l2, u2 = wilson(a + c, n, level)
    denom = (a + b) * (c + d) * (a + c) * (b + d)
    phi = (a * d - b * c) / math.sqrt(denom) if denom > 0 else 0.0
    delta = p1 - p2
    low = delta - math.sqrt(max((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2, 0.0))
    high = delta + math.sqrt(max((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2, 0.0))
    return delta, max(low, -1.0), min(high, 1.0)


def paired_counts(first: Sequence[bool], second: Sequence[bool]) -> tuple[int, int, int, int]:
    """(both, first only, second only, neither) of two aligned outcome lists."""
    x, y = np.asarray(first, dtype=bool), np.asarray(second, dtype=bool)
    if x.shape != y.shape:
        raise ValueError("paired outcomes must have the same length")
    return int((x & y).sum()), int((x & ~y).sum()), int((~x & y).sum()), int((~x & ~y).sum())


def bootstrap_ratio(
    numerator: Sequence[float], denominator: Sequence[float], level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """(ratio, low, high) of mean(numerator) / mean(denominator) over paired items (the same questions;
    outcomes 0/1, or a question's mean over its arrangements), a percentile bootstrap resampling items
    (`BOOTSTRAP_RESAMPLES` resamples, `seed`)."""
    x = np.asarray(numerator, dtype=float)
    y = np.asarray(denominator, dtype=float)
    if x.shape != y.shape or x.size == 0:
        raise ValueError("a paired ratio needs two aligned, non-empty outcome lists")
    if y.sum() == 0:
        raise ValueError("the denominator's accuracy is 0: the ratio is undefined")
    ratio = float(x.mean() / y.mean())
    if np.all(x == x[0]) and np.all(y == y[0]):
        return ratio, ratio, ratio  # every resample gives the same value

    def statistic(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
        den = b.mean(axis=axis)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(den > 0, a.mean(axis=axis) / np.where(den > 0, den, 1.0), np.inf)

    res = stats.bootstrap(
        (x, y),
        statistic,
        paired=True,
        vectorized=True,
        n_resamples=BOOTSTRAP_RESAMPLES,
        confidence_level=level,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return ratio, float(res.confidence_interval.low), float(res.confidence_interval.high)


def decide(low: float, high: float, direction: Direction, threshold: float) -> str:
    """PASS when [low, high] lies wholly on the criterion's side of `threshold`, FAIL when wholly on the
    other side, INCONCLUSIVE when it straddles it. `direction`: the criterion is value <= or >= threshold."""
    eps = 1e-12
    if direction == "<=":
        return PASS if high <= threshold + eps else FAIL if low > threshold + eps else INCONCLUSIVE
    return PASS if low >= threshold - eps else FAIL if high < threshold - eps else INCONCLUSIVE


def trials_to_decide(
    interval_at: Callable[[float], tuple[float, float]], direction: Direction, threshold: float, n: int
) -> int | None:
    """The smallest trial count n' >= n at which `interval_at(n')` (the interval with the same estimate
    and n' trials) no longer straddles `threshold`; None when no count up to 10^6 decides it (an estimate
    on the threshold itself)."""

    def decided(m: float) -> bool:
        return decide(*interval_at(m), direction, threshold) != INCONCLUSIVE

    if decided(n):
        return n
    hi = max(n, 1)
    while not decided(hi):
        hi *= 2
        if hi > _MAX_N:
            return None
    lo = hi // 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if decided(mid) else (mid, hi)
    return hi


@dataclass(frozen=True)
class Decision:
    """One statistic decided against one threshold."""

    status: str
    estimate: float
    low: float
    high: float
    n: int
    threshold: float
    direction: Direction
    trials_needed: int | None = None  # per condition, for INCONCLUSIVE
    label: str = ""

    def describe(self) -> str:
        text = (
            f"{self.label}{_pct(self.estimate)} [{_pct(self.low)}, {_pct(self.high)}] (n={self.n}; "
            f"criterion {self.direction} {_pct(self.threshold)}: {self.status}"
        )
        if self.status == INCONCLUSIVE:
            text += (
                f", ~{self.trials_needed} trials would decide it"
                if self.trials_needed
                else ", the estimate sits on the threshold"
            )
        return text + ")"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def decide_rate(
    successes: int, n: int, direction: Direction, threshold: float, level: float, label: str = ""
) -> Decision:
    """A rate against a threshold (Wilson)."""
    p = successes / n
    low, high = wilson(successes, n, level)
    status = decide(low, high, direction, threshold)
    needed = None
    if status == INCONCLUSIVE:
        needed = trials_to_decide(lambda m: wilson(p * m, m, level), direction, threshold, n)
    return Decision(status, p, low, high, n, threshold, direction, needed, label)


def decide_paired_difference(
    first: Sequence[bool], second: Sequence[bool], direction: Direction, threshold: float, level: float,
    label: str = "",
) -> Decision:
    """rate(first) - rate(second) over paired trials against a threshold (Newcombe)."""
    counts = paired_counts(first, second)
    n = sum(counts)
    delta, low, high = newcombe_paired(*counts, level=level)
    status = decide(low, high, direction, threshold)
    needed = None
    if status == INCONCLUSIVE:
        shares = [c / n for c in counts]
        needed = trials_to_decide(
            lambda m: newcombe_paired(*(s * m for s in shares), level=level)[1:], direction, threshold, n
        )
    return Decision(status, delta, low, high, n, threshold, direction, needed, label)


def decide_ratio(
    numerator: Sequence[float], denominator: Sequence[float], direction: Direction, threshold: float,
    level: float, seed: int = 0, label: str = "",
) -> Decision:
    """mean(numerator) / mean(denominator) over paired items against a threshold (paired bootstrap).
    Trials to decide: the interval's half-width scaled by sqrt(n / n')."""
    n = len(numerator)
    ratio, low, high = bootstrap_ratio(numerator, denominator, level, seed)
    status = decide(low, high, direction, threshold)
    needed = None
    if status == INCONCLUSIVE:
        gap = abs(ratio - threshold)
        half = max(high - ratio, ratio - low)
        needed = None if gap < 1e-12 else min(_MAX_N, max(n + 1, math.ceil(n * (half / gap) ** 2)))
    return Decision(status, ratio, low, high, n, threshold, direction, needed, label)


def combine(decisions: Sequence[Decision]) -> Decision | None:
    """A claim checked on several cells: FAIL when any cell fails, PASS when every cell passes, else
    INCONCLUSIVE. The returned decision is the deciding cell (the first failing one, else the inconclusive
    cell needing the most trials, else the passing cell whose interval comes nearest its threshold)."""
    if not decisions:
        return None
    failing = [d for d in decisions if d.status == FAIL]
    if failing:
        return failing[0]
    open_ = [d for d in decisions if d.status == INCONCLUSIVE]
    if open_:
        return max(open_, key=lambda d: (d.trials_needed is None, d.trials_needed or 0))

    def margin(d: Decision) -> float:
        return d.threshold - d.high if d.direction == "<=" else d.low - d.threshold

    return min(decisions, key=margin)
