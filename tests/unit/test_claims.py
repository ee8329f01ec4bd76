"""Claims: PASS on the paper's pattern, FAIL when a measurement breaks a threshold, NOT RUN when absent."""

import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import synthetic_results as fx  # noqa: E402

from hybrid_retrieval.aggregate import aggregate  # noqa: E402
from hybrid_retrieval.claims import CLAIMS_COLUMNS, ClaimsConfig, evaluate_claims, read_claims  # noqa: E402
from hybrid_retrieval.errors import ConfigError  # noqa: E402


def _claims(tmp_path, rate=fx.default_rate, config=None, **kwargs):
    fx.write_synthetic_results(tmp_path / "results", rate=rate, **kwargs)
    aggregate(tmp_path / "results", tmp_path / "tables")
    return evaluate_claims(tmp_path / "tables", tmp_path / "claims.csv", config)


def _status(df: pl.DataFrame, claim_id: int, model: str = "toy-jamba") -> dict:
    return df.filter((pl.col("claim_id") == claim_id) & (pl.col("model") == model)).row(0, named=True)


def test_paper_pattern_passes_every_claim(tmp_path):
    df = _claims(tmp_path)
    assert df.columns == CLAIMS_COLUMNS
    assert df.height == 5 * 2 and set(df["status"]) == {"PASS"}
    assert _status(df, 3)["measured"] == pytest.approx(1 / 8)  # k = 1 of 8
    assert _status(df, 3, "toy-recurrent-gemma")["measured"] == pytest.approx(1 / 10)
    assert _status(df, 4)["measured"] == pytest.approx(0.875)
    # The CSV round-trips.
    assert read_claims(tmp_path / "claims.csv").equals(df)


def test_broken_measurements_fail(tmp_path):
    def rate(experiment, spec, num_heads):
        if experiment == "attention_ablated":
            return 0.5  # claim 1 broken
        if experiment == "jrt" and spec.get("prompt_variant") == "jrt" and spec.get("k") == 0:
            return 0.5  # JRT recovers at k = 0: claim 2 broken
        if (
            experiment == "sparsity_sweep"
            and spec["kind"] == "entropy_topk"
            and 0 < spec["k"] < num_heads // 2
        ):
            return 0.5  # needs half the heads: claim 3 broken
        if experiment == "exposure" and spec["generation_mode"] == "omit" and spec["prefill_mode"] == "keep":
            return 1.0  # omitting the needle changes nothing: claim 5 broken
        return fx.default_rate(experiment, spec, num_heads)

    df = _claims(tmp_path, rate)
    for claim_id in (1, 2, 3, 5):
        assert _status(df, claim_id)["status"] == "FAIL", claim_id
    assert _status(df, 1)["measured"] == 0.5
    assert _status(df, 2)["measured"] == 0.5
    assert _status(df, 3)["measured"] == pytest.approx(4 / 8)
    assert "generation=omit, prefill=keep" in _status(df, 5)["detail"]


def test_mmlu_modes_and_explicit_k(tmp_path):
    # Retention at k = 1 is 0.875; "within" 0.84 +- 0.01 fails, "at_least" passes.
    strict = _claims(tmp_path, config={"mmlu_tolerance": 0.01})
    assert _status(strict, 4)["status"] == "FAIL"
    loose = evaluate_claims(tmp_path / "tables", None, {"mmlu_tolerance": 0.01, "mmlu_mode": "at_least"})
    assert _status(loose, 4)["status"] == "PASS"
    chance = evaluate_claims(tmp_path / "tables", None, {"mmlu_k": {"toy-jamba": 0}})
    assert (
        _status(chance, 4)["measured"] == pytest.approx(0.25 / 0.8) and _status(chance, 4)["status"] == "FAIL"
    )


def test_absent_experiments_are_not_run(tmp_path):
    df = _claims(tmp_path, experiments=("baseline", "attention_ablated"), mmlu=False)
    assert _status(df, 1)["status"] == "PASS"
    for claim_id in (2, 3, 4, 5):
        assert _status(df, claim_id)["status"] == "NOT RUN", claim_id
    # A model named by the config but without results shows up as NOT RUN rather than vanishing.
    extra = evaluate_claims(tmp_path / "tables", None, models=["toy-jamba", "recurrentgemma-2b"])
    assert set(extra.filter(pl.col("model") == "recurrentgemma-2b")["status"]) == {"NOT RUN"}


def test_gates_and_rates_count_reachable_trials_only(tmp_path):
    # RecurrentGemma's window: the longest context at depth 0 is out of reach (never exact), 2 of 18 trials.
    def far(model, length, depth):
        return model == "toy-recurrent-gemma" and length == 256 and depth == 0.0

    def rate(experiment, spec, num_heads):
        return 0.8 if experiment == "baseline" else fx.default_rate(experiment, spec, num_heads)

    df = _claims(tmp_path, rate, unreachable=far)
    summary = pl.read_parquet(tmp_path / "tables" / "retrieval_summary.parquet")
    base = summary.filter((pl.col("model") == "toy-recurrent-gemma") & (pl.col("experiment") == "baseline"))
    row = base.row(0, named=True)
    assert (row["n"], row["n_all"]) == (16, 18)
    assert row["exact_rate"] == pytest.approx(13 / 16)  # round(0.8 * 16) = 13 of the reachable 16: >= 80%
    assert row["exact_rate_all"] == pytest.approx(13 / 18)  # < 80%: the old whole-grid gate would fail
    assert _status(df, 1, "toy-recurrent-gemma")["status"] == "PASS"
    cells = pl.read_parquet(tmp_path / "tables" / "retrieval_cells.parquet")
    far_cell = (
        (pl.col("model") == "toy-recurrent-gemma") & (pl.col("context_length") == 256) & (pl.col("depth") == 0.0)
    )
    assert not cells.filter(far_cell)["reachable"].any()


def test_claim_3_allows_the_paper_fraction_plus_tolerance(tmp_path):
    def rate(experiment, spec, num_heads):
        if experiment == "sparsity_sweep" and spec["kind"] == "entropy_topk" and 0 < spec["k"] < 2:
            return 0.5  # RG (10 heads) needs k = 2 = 20%: within 15.6% + 5%
        return fx.default_rate(experiment, spec, num_heads)

    df = _claims(tmp_path, rate)
    assert _status(df, 3, "toy-recurrent-gemma")["measured"] == pytest.approx(0.2)
    assert _status(df, 3, "toy-recurrent-gemma")["status"] == "PASS"
    assert _status(df, 3)["measured"] == pytest.approx(2 / 8)  # Jamba toy: 25% > 20.6%
    assert _status(df, 3)["status"] == "FAIL"


def test_artifact_quotes_the_criteria_verbatim():
    from hybrid_retrieval.claims import criteria_markdown

    artifact = (Path(__file__).resolve().parents[2] / "ARTIFACT.md").read_text(encoding="utf-8")
    block = artifact.split("<!-- criteria:start -->\n", 1)[1].split("\n<!-- criteria:end -->", 1)[0]
    assert block == criteria_markdown()
    # the text follows the config, so a changed threshold shows (and ARTIFACT.md would have to follow)
    assert criteria_markdown(ClaimsConfig(jrt_tolerance=0.1)) != block


def test_no_tables_at_all(tmp_path):
    df = evaluate_claims(tmp_path, None)
    assert df.height == 5 and set(df["status"]) == {"NOT RUN"} and "absent" in df["detail"][0]


def test_unknown_config_key_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match="ablation_max_exactt"):
        evaluate_claims(tmp_path, None, {"ablation_max_exactt": 0.1})


def test_a_model_that_does_not_retrieve_fails_as_not_testable(tmp_path):
    # 0% everywhere: "ablation gives 0%" would pass vacuously; it must FAIL and say why.
    df = _claims(tmp_path, lambda experiment, spec, num_heads: 0.0)
    for claim_id in (1, 2, 3, 5):
        row = _status(df, claim_id)
        assert row["status"] == "FAIL", claim_id
        assert "not testable" in row["detail"], claim_id


def test_exposure_reports_only_and_balanced_without_requiring_them(tmp_path):
    def rate(experiment, spec, num_heads):
        if experiment == "exposure" and spec["generation_mode"] in ("only", "balanced"):
            return 0.0
        return fx.default_rate(experiment, spec, num_heads)

    row = _status(_claims(tmp_path, rate), 5)
    assert row["status"] == "PASS"
    assert "generation=only, prefill=keep: 0.0%" in row["detail"]


def test_artifact_quotes_the_deviations_verbatim():
    from hybrid_retrieval.deviations import DEVIATIONS, deviations_markdown

    artifact = (Path(__file__).resolve().parents[2] / "ARTIFACT.md").read_text(encoding="utf-8")
    block = artifact.split("<!-- deviations:start -->\n", 1)[1].split("\n<!-- deviations:end -->", 1)[0]
    assert block == deviations_markdown()
    assert block.count("\n") == len(DEVIATIONS) + 1  # header, rule, one line per deviation
    # every named option is a real config key path (its first segment is a top-level section)
    from hybrid_retrieval.config import Config

    for d in DEVIATIONS:
        if d.option != "-":
            assert d.option.split(".")[0] in Config.model_fields, d.option
