"""Display order and de-duplication of the report's tables (report/tables.py)."""

import polars as pl

from hybrid_retrieval.report.tables import mmlu_view, natural_key, retrieval_view


def _summary(rows):
    base = {
        "model": "toy-jamba",
        "experiment": "sparsity_sweep",
        "prompt_variant": "base",
        "prefill_mode": "keep",
        "n": 18,
        "exact_rate": 0.5,
        "ci_low": 0.3,
        "ci_high": 0.7,
        "mean_score": 0.6,
    }
    return pl.DataFrame([{**base, **r} for r in rows])


def test_natural_key_orders_numbers_by_value():
    labels = ["static-heads-10-generation", "static-heads-2-generation", "entropy-top-10", "entropy-top-2"]
    assert sorted(labels, key=natural_key) == [
        "entropy-top-2",
        "entropy-top-10",
        "static-heads-2-generation",
        "static-heads-10-generation",
    ]
    assert sorted(labels) != sorted(labels, key=natural_key)  # plain text order puts -10 first


def test_retrieval_view_sorts_conditions_naturally_and_experiments_in_paper_order():
    view = retrieval_view(
        _summary(
            [
                {"condition": "static-heads-10-generation-abc"},
                {"condition": "static-heads-2-generation-abc"},
                {"condition": "baseline", "experiment": "baseline"},
            ]
        )
    )
    assert [row[2] for row in view.rows] == [
        "baseline",
        "static-heads-2-generation-abc",
        "static-heads-10-generation-abc",
    ]


def test_identical_baseline_rows_are_shown_once_and_differing_ones_are_named():
    same = [
        {"experiment": "exposure", "condition": "baseline", "prefill_mode": "keep"},
        {"experiment": "exposure", "condition": "baseline", "prefill_mode": "follow"},
    ]
    assert [row[2] for row in retrieval_view(_summary(same)).rows] == ["baseline"]
    differ = [same[0], {**same[1], "exact_rate": 0.25}]
    assert [row[2] for row in retrieval_view(_summary(differ)).rows] == [
        "baseline (prefill keep)",
        "baseline (prefill follow)",
    ]


def test_mmlu_view_orders_k_by_value():
    df = pl.DataFrame(
        [
            {
                "model": "m",
                "dataset": "mmlu",
                "condition": f"entropy-top-{k}",
                "kind": "entropy_topk",
                "k": k,
                "n": 10,
                "accuracy": 0.5,
                "ci_low": 0.2,
                "ci_high": 0.8,
                "retention": 1.0,
            }
            for k in (10, 2, 1)
        ]
    )
    assert [row[3] for row in mmlu_view(df).rows] == ["1", "2", "10"]


def test_paper_quotes_the_configured_decoding_budget(tmp_path):
    # paper/main.tex quotes max_new_tokens through a macro, never a pasted number (it was "up to 40 tokens").
    from pathlib import Path

    from hybrid_retrieval.claims import SCHEMA
    from hybrid_retrieval.report.latex import paper_macros

    claims = pl.DataFrame(
        [{"claim_id": "1", "model": "m", "status": "NOT RUN", "level": 0.95}], schema=SCHEMA
    )
    assert r"\newcommand{\MaxNewTokens}{12}" in paper_macros(claims, tmp_path, max_new_tokens=12)
    main_tex = (Path(__file__).resolve().parents[2] / "paper" / "main.tex").read_text()
    assert r"up to \MaxNewTokens{} tokens" in main_tex
