"""GLUE rows -> glue_summary (lm-eval's metrics, retention), claim 4's GLUE note, the report's GLUE table."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import synthetic_results as fx  # noqa: E402

from hybrid_retrieval.analysis.aggregate import aggregate, read_table  # noqa: E402
from hybrid_retrieval.claims import evaluate_claims  # noqa: E402
from hybrid_retrieval.jobs.glue_eval import GLUE_ROW_SCHEMA  # noqa: E402
from hybrid_retrieval.report.tables import report_views  # noqa: E402

MODEL, HEADS = "jamba-mini-1.6", 32
# task -> (labels, predictions at k) for k in H, 5, 0
LABELS = {"cola": [1, 1, 0, 0, 1, 0, 1, 1], "mnli": [0, 1, 2, 0, 1, 2]}
PREDICTIONS = {
    "cola": {HEADS: [1, 1, 0, 0, 1, 0, 1, 0], 5: [1, 1, 0, 1, 1, 0, 0, 0], 0: [1, 1, 1, 1, 1, 1, 1, 1]},
    "mnli": {HEADS: [0, 1, 2, 0, 1, 1], 5: [0, 1, 2, 1, 1, 1], 0: [0, 0, 0, 0, 0, 0]},
}


def write_glue_rows(results: Path) -> None:
    for task, by_k in PREDICTIONS.items():
        for k, predictions in by_k.items():
            labels = LABELS[task]
            rows = [
                {
                    "model": MODEL, "revision": "r", "dataset": "nyu-mll/glue@abc", "task": task,
                    "split": "validation", "condition": f"entropy-top{k}", "intervention_hash": str(k),
                    "kind": "entropy_topk", "k": k, "num_heads": HEADS, "kept_fraction": k / HEADS, "phase": "all",
                    "doc_id": i, "label": y, "prediction": p, "correct": y == p, "logprobs": [0.0, -1.0, -2.0][:3],
                    "shot_ids": [0, 1], "num_shots": 2, "fewshot_seed": 1234, "chat_template": True,
                    "package_version": "0",
                }
                for i, (y, p) in enumerate(zip(labels, predictions, strict=True))
            ]  # fmt: skip
            out = results / MODEL / "glue" / task / f"top-{'H' if k == HEADS else k}-heads.parquet"
            out.parent.mkdir(parents=True, exist_ok=True)
            pl.DataFrame(rows, schema=GLUE_ROW_SCHEMA).write_parquet(out)


def mcc(y: list[int], p: list[int]) -> float:
    tp = sum(a == b == 1 for a, b in zip(y, p, strict=True))
    tn = sum(a == b == 0 for a, b in zip(y, p, strict=True))
    fp = sum(a == 0 and b == 1 for a, b in zip(y, p, strict=True))
    fn = sum(a == 1 and b == 0 for a, b in zip(y, p, strict=True))
    den = ((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)) ** 0.5
    return (tp * tn - fp * fn) / den if den else 0.0


@pytest.fixture
def tables(tmp_path) -> Path:
    results = tmp_path / "results"
    fx.write_synthetic_results(results, models={MODEL: HEADS})
    write_glue_rows(results)
    aggregate(results, tmp_path / "tables")
    return tmp_path / "tables"


def test_glue_summary_has_lm_evals_metrics_and_retention(tables) -> None:
    glue = read_table(tables, "glue_summary")
    assert glue.select("task", "metric").unique().sort("task").rows() == [("cola", "mcc"), ("mnli", "acc")]
    cola = {r["k"]: r for r in glue.filter(pl.col("task") == "cola").to_dicts()}
    mnli = {r["k"]: r for r in glue.filter(pl.col("task") == "mnli").to_dicts()}
    y = LABELS["cola"]
    for k in (HEADS, 5, 0):
        assert cola[k]["value"] == pytest.approx(mcc(y, PREDICTIONS["cola"][k]))
        assert cola[k]["n"] == 8 and mnli[k]["n"] == 6
    assert mnli[HEADS]["value"] == pytest.approx(5 / 6) and mnli[5]["value"] == pytest.approx(4 / 6)
    assert mnli[5]["retention"] == pytest.approx(4 / 5) and mnli[HEADS]["retention"] == pytest.approx(1.0)
    assert cola[5]["retention"] == pytest.approx(cola[5]["value"] / cola[HEADS]["value"])
    assert cola[0]["value"] == 0.0  # a constant prediction has MCC 0, as sklearn says
    assert glue["dataset"].unique().to_list() == ["nyu-mll/glue@abc"]
    assert glue.filter(pl.col("task") == "mnli")["k"].to_list() == [HEADS, 5, 0]  # the paper's order


def test_claim_4_notes_glue_retention_at_its_k(tables, tmp_path) -> None:
    claims = evaluate_claims(tables, claims_config={"mmlu_k": {MODEL: 5}}, models=[MODEL])
    detail = claims.filter(pl.col("claim_id") == "4")["detail"][0]
    glue = read_table(tables, "glue_summary").filter(pl.col("k") == 5)
    expected = ", ".join(
        f"{r['task']} {r['metric']} {r['retention']:.3f}" for r in glue.sort("task").to_dicts()
    )
    assert detail.endswith(f"GLUE retention at k = 5 (reported, not checked): {expected}")
    others = claims.filter(pl.col("claim_id") != "4")["detail"].to_list()
    assert not any("GLUE" in d for d in others)
    # without GLUE rows (the toy configs) the note says so, and claim 4's verdict does not change
    bare = tmp_path / "bare"
    fx.write_synthetic_results(bare / "results", models={MODEL: HEADS})
    aggregate(bare / "results", bare / "tables")
    without = evaluate_claims(bare / "tables", claims_config={"mmlu_k": {MODEL: 5}}, models=[MODEL])
    row = without.filter(pl.col("claim_id") == "4").row(0, named=True)
    assert row["detail"].endswith("GLUE: not run")
    assert row["status"] == claims.filter(pl.col("claim_id") == "4")["status"][0]
    assert read_table(bare / "tables", "glue_summary").is_empty()


def test_report_shows_the_glue_table_when_present(tables, tmp_path) -> None:
    views = {v.name: v for v in report_views(tables)}
    assert views["glue_summary"].columns == [
        "model",
        "task",
        "metric",
        "condition",
        "k",
        "n",
        "value",
        "retention",
    ]
    assert len(views["glue_summary"].rows) == 6
    bare = tmp_path / "bare"
    fx.write_synthetic_results(bare / "results", models={MODEL: HEADS})
    aggregate(bare / "results", bare / "tables")
    assert "glue_summary" not in {v.name for v in report_views(bare / "tables")}
