"""The claims' intervals against statsmodels, their coverage, and the three-way decision."""

import numpy as np
import pytest
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from hybrid_retrieval.analysis.statistics import (
    FAIL,
    INCONCLUSIVE,
    PASS,
    bootstrap_ratio,
    combine,
    decide,
    decide_rate,
    newcombe_paired,
    trials_to_decide,
    wilson,
)


@pytest.mark.parametrize("k,n", [(0, 12), (5, 12), (12, 12), (37, 100), (1, 3)])
@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_wilson_equals_statsmodels(k, n, level):
    expected = proportion_confint(k, n, alpha=1 - level, method="wilson")
    assert wilson(k, n, level) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("both,first,second,neither", [(6, 6, 3, 3), (10, 5, 10, 5), (4, 2, 8, 4), (2, 1, 8, 4)])
def test_newcombe_paired_without_correlation_equals_the_independent_newcombe_interval(both, first, second, neither):
    # With ad = bc the pairs are uncorrelated (phi = 0), and method 10 reduces to Newcombe's hybrid score
    # interval for two independent proportions, which statsmodels implements.
    assert both * neither == first * second
    n = both + first + second + neither
    delta, low, high = newcombe_paired(both, first, second, neither)
    expected = confint_proportions_2indep(both + first, n, both + second, n, method="newcomb", compare="diff")
    assert delta == pytest.approx((first - second) / n)
    assert (low, high) == pytest.approx(expected, abs=1e-12)


def test_newcombe_paired_uses_the_correlation():
    # Strongly correlated pairs (few discordant) give a narrower interval than the uncorrelated formula.
    _, low, high = newcombe_paired(40, 2, 0, 58)
    wide = confint_proportions_2indep(42, 100, 40, 100, method="newcomb", compare="diff")
    assert high - low < wide[1] - wide[0]


@pytest.mark.parametrize("p1,p2,rho_share", [(0.5, 0.5, 0.8), (0.9, 0.8, 0.5), (0.05, 0.0, 0.0)])
def test_newcombe_paired_coverage(p1, p2, rho_share):
    # Simulated paired outcomes: the 95% interval covers the true difference in >= ~93% of samples.
    rng = np.random.default_rng(0)
    n, runs, covered = 60, 400, 0
    for _ in range(runs):
        u = rng.random(n)
        shared = rng.random(n) < rho_share
        v = np.where(shared, u, rng.random(n))
        x, y = u < p1, v < p2
        a, b, c, d = (x & y).sum(), (x & ~y).sum(), (~x & y).sum(), (~x & ~y).sum()
        _, low, high = newcombe_paired(a, b, c, d)
        covered += low <= p1 - p2 <= high
    assert covered / runs >= 0.93


def test_bootstrap_ratio_is_seeded_and_covers_the_estimate():
    x = [1] * 70 + [0] * 30
    y = [1] * 80 + [0] * 20
    first = bootstrap_ratio(x, y, seed=1)
    assert first == bootstrap_ratio(x, y, seed=1)
    assert first[0] == pytest.approx(0.875) and first[1] < first[0] < first[2]
    assert bootstrap_ratio(x, y, seed=2)[1:] != first[1:]  # the seed matters
    with pytest.raises(ValueError, match="denominator"):
        bootstrap_ratio([1, 0], [0, 0])


def test_decide_three_ways():
    assert decide(0.0, 0.04, "<=", 0.05) == PASS
    assert decide(0.06, 0.2, "<=", 0.05) == FAIL
    assert decide(0.0, 0.07, "<=", 0.05) == INCONCLUSIVE
    assert decide(0.92, 0.99, ">=", 0.9) == PASS
    assert decide(0.5, 0.8, ">=", 0.9) == FAIL
    assert decide(0.85, 0.95, ">=", 0.9) == INCONCLUSIVE


def test_trials_to_decide_is_the_smallest_deciding_count():
    needed = trials_to_decide(lambda m: wilson(0, m), "<=", 0.05, 12)
    assert needed == 73
    assert decide(*wilson(0, needed), "<=", 0.05) == PASS
    assert decide(*wilson(0, needed - 1), "<=", 0.05) == INCONCLUSIVE
    # an estimate on the threshold is never decided
    assert trials_to_decide(lambda m: wilson(0.05 * m, m), "<=", 0.05, 20) is None


def test_combine_fails_on_any_failure_and_passes_only_when_all_pass():
    ok = decide_rate(0, 100, "<=", 0.05, 0.95)
    bad = decide_rate(50, 100, "<=", 0.05, 0.95)
    open_ = decide_rate(0, 20, "<=", 0.05, 0.95)
    assert combine([ok, ok]).status == PASS
    assert combine([ok, open_]).status == INCONCLUSIVE
    assert combine([open_, bad, ok]) is bad
