"""Aggregation: Wilson intervals, summaries, the sparsity threshold, MMLU retention, determinism."""

import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import synthetic_results as fx  # noqa: E402

from hybrid_retrieval.analysis.aggregate import TABLE_NAMES, aggregate, read_table, wilson_interval  # noqa: E402
from hybrid_retrieval.errors import ConfigError, DataError  # noqa: E402


def _wilson(x: int, n: int) -> tuple[float, float]:
    df = pl.DataFrame({"x": [float(x)], "n": [float(n)]})
    low, high = wilson_interval(pl.col("x"), pl.col("n"))
    row = df.select(low.alias("l"), high.alias("h")).row(0)
    return row[0], row[1]


def test_wilson_matches_reference_values():
    # Reference: statsmodels proportion_confint(8, 10, method="wilson") = (0.4902, 0.9433).
    low, high = _wilson(8, 10)
    assert low == pytest.approx(0.49016, abs=1e-4) and high == pytest.approx(0.94332, abs=1e-4)
    # At 0 successes the interval starts at 0 and is not degenerate (3.84 / (n + 3.84) at n = 18).
    low, high = _wilson(0, 18)
    assert low == 0.0 and high == pytest.approx(3.8415 / (18 + 3.8415), abs=1e-4)


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    root = tmp_path_factory.mktemp("agg")
    fx.write_synthetic_results(root / "results")
    paths = aggregate(root / "results", root / "tables")
    return root, paths


def test_every_table_is_written_as_parquet_and_csv(tables):
    root, paths = tables
    assert set(paths) == set(TABLE_NAMES)
    for name in TABLE_NAMES:
        assert (root / "tables" / f"{name}.parquet").exists() and (root / "tables" / f"{name}.csv").exists()


def test_retrieval_summary_rates(tables):
    root, _ = tables
    s = read_table(root / "tables", "retrieval_summary")
    n_trials = len(fx.CONTEXT_LENGTHS) * len(fx.DEPTHS) * fx.TRIALS_PER_CELL
    base = s.filter((pl.col("model") == "toy-jamba") & (pl.col("experiment") == "baseline")).row(
        0, named=True
    )
    assert base["n"] == n_trials and base["exact_rate"] == 1.0 and base["mean_score"] == 1.0
    # mixer ablation: exactly half of the 18 trials exact by construction.
    mixer = s.filter((pl.col("model") == "toy-jamba") & (pl.col("kind") == "mixer_ablation")).row(
        0, named=True
    )
    assert mixer["n_exact"] == 9 and mixer["exact_rate"] == 0.5
    assert mixer["ci_low"] < 0.5 < mixer["ci_high"]
    # Partial scores count in mean_score: ablated trials score i % 3 -> mean 1 of 5.
    ablated = s.filter(pl.col("experiment") == "attention_ablated").row(0, named=True)
    assert ablated["exact_rate"] == 0.0 and ablated["mean_score"] == pytest.approx(0.2)
    cells = read_table(root / "tables", "retrieval_cells")
    one = cells.filter((pl.col("model") == "toy-jamba") & (pl.col("experiment") == "baseline"))
    assert one.height == len(fx.CONTEXT_LENGTHS) * len(fx.DEPTHS) and set(one["n"]) == {fx.TRIALS_PER_CELL}


def test_sparsity_threshold_and_static_heads_k(tables):
    root, _ = tables
    curve = read_table(root / "tables", "sparsity_curve")
    static = curve.filter((pl.col("model") == "toy-jamba") & (pl.col("kind") == "static_heads"))
    assert static["k"].to_list() == list(range(9))  # derived from kept_fraction x num_heads
    thr = read_table(root / "tables", "sparsity_threshold")
    row = thr.filter((pl.col("model") == "toy-jamba") & (pl.col("kind") == "entropy_topk")).row(0, named=True)
    assert row["k_min"] == 1 and row["kept_fraction"] == pytest.approx(1 / 8)
    # random_k rate is k/8 + 0.1: first >= 0.95 at k = 7.
    row = thr.filter((pl.col("model") == "toy-jamba") & (pl.col("kind") == "random_k")).row(0, named=True)
    assert row["k_min"] == 7


def test_mmlu_retention_and_subjects(tables):
    root, _ = tables
    m = read_table(root / "tables", "mmlu_summary").filter(pl.col("model") == "toy-recurrent-gemma")
    by_k = {r["k"]: r for r in m.iter_rows(named=True)}
    assert by_k[10]["accuracy"] == pytest.approx(0.8) and by_k[10]["retention"] == pytest.approx(1.0)
    assert by_k[1]["retention"] == pytest.approx(0.7 / 0.8)
    assert by_k[0]["retention"] == pytest.approx(0.25 / 0.8)
    subjects = read_table(root / "tables", "mmlu_subjects").filter(pl.col("model") == "toy-recurrent-gemma")
    assert subjects.height == 3 * 2 and set(subjects["n"]) == {20}


def test_mc_rows_written_before_question_key_aggregate_as_one_item_per_question(tmp_path):
    fx.write_synthetic_results(tmp_path / "results")
    new = aggregate(tmp_path / "results", tmp_path / "new")
    for path in sorted((tmp_path / "results").glob("*/mmlu/*.parquet")):
        pl.read_parquet(path).drop("question_key").write_parquet(path)  # an earlier package's rows
    old = aggregate(tmp_path / "results", tmp_path / "old")
    summary = read_table(tmp_path / "old", "mmlu_summary")
    assert (summary["n_questions"] == summary["n"]).all()
    assert read_table(tmp_path / "new", "mmlu_summary").equals(summary)
    assert set(read_table(tmp_path / "old", "mmlu_items")["question_key"].head(2)) == {"algebra/algebra-000", "algebra/algebra-001"}
    assert new.keys() == old.keys()


def test_heads_join_scores_and_recordings(tables):
    root, _ = tables
    h = read_table(root / "tables", "heads").filter(pl.col("model") == "toy-recurrent-gemma")
    assert h.height == 2 * 10
    head0 = h.filter(pl.col("head") == 0)
    assert head0["kept_rate"].to_list() == [1.0, 1.0] and head0["recorded_steps"].to_list() == [3, 3]


def test_output_is_deterministic(tables, tmp_path):
    root, _ = tables
    aggregate(root / "results", tmp_path / "again")
    for name in TABLE_NAMES:
        assert (root / "tables" / f"{name}.csv").read_bytes() == (
            tmp_path / "again" / f"{name}.csv"
        ).read_bytes()


def test_empty_results_give_empty_tables_with_schema(tmp_path):
    (tmp_path / "results").mkdir()
    aggregate(tmp_path / "results", tmp_path / "tables")
    s = read_table(tmp_path / "tables", "retrieval_summary")
    assert s.is_empty() and "exact_rate" in s.columns
    assert read_table(tmp_path / "tables", "sparsity_threshold").is_empty()


def test_missing_column_names_the_file(tmp_path):
    bad = tmp_path / "results" / "m" / "retrieval" / "baseline.parquet"
    bad.parent.mkdir(parents=True)
    pl.DataFrame({"model": ["m"], "score": [5]}).write_parquet(bad)
    with pytest.raises(DataError, match="baseline.parquet lacks the columns"):
        aggregate(tmp_path / "results", tmp_path / "tables")


def test_bad_arguments(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        aggregate(tmp_path / "nope", tmp_path / "tables")
    (tmp_path / "r").mkdir()
    with pytest.raises(ConfigError, match="retention_fraction"):
        aggregate(tmp_path / "r", tmp_path / "tables", retention_fraction=1.5)
    with pytest.raises(ConfigError, match="unknown table"):
        read_table(tmp_path, "nope")


def test_a_limited_quick_look_is_refused(tmp_path):
    results = tmp_path / "results"
    fx.write_synthetic_results(results)
    aggregate(results, tmp_path / "tables")  # whole results: fine
    path = next(results.glob("*/retrieval/baseline.parquet"))
    rows = pl.read_parquet(path)
    # a `--limit 2` run written over a whole result: the same columns plus its limit marker
    rows.head(2).with_columns(pl.lit(2).alias("limit")).write_parquet(path)
    with pytest.raises(DataError, match=r"baseline.parquet holds a quick look .*--limit 2"):
        aggregate(results, tmp_path / "tables2")
