"""run_glue, the score_glue rule's step: model directory + snapshot record (or directory) -> rows."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import glue_fixture as fx  # noqa: E402

from hybrid_retrieval.errors import ConfigError, DataError  # noqa: E402
from hybrid_retrieval.jobs.glue_eval import GLUE_ROW_SCHEMA, run_glue  # noqa: E402

MODEL = {"name": "tiny-jamba", "dtype": "float32", "chat_template": False, "prefill_boundary": "auto"}


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("glue_snapshot")
    fx.write_glue_snapshot(root, configs=("rte", "mnli"), n_train=6, n_eval=5)
    record = root.parent / "snapshot.json"
    record.write_text(
        json.dumps({"repo_id": "nyu-mll/glue", "repo_type": "dataset", "commit": "c0ffee", "path": str(root)})
    )
    return root, record


def run(model_dir, dataset, tmp_path, **kw):
    args = dict(model=MODEL, dataset=dataset, task="rte", k="H", num_shots=2, chat_template=None, batch_size=4,
                out_path=tmp_path / "out.parquet")  # fmt: skip
    return run_glue(model_dir, **(args | kw))


def test_rows_from_the_snapshot_record(tiny_model_dirs, snapshot, tmp_path) -> None:
    root, record = snapshot
    df = run(tiny_model_dirs["jamba"], str(record), tmp_path)
    assert pl.read_parquet(tmp_path / "out.parquet").equals(df)
    assert dict(df.schema) == GLUE_ROW_SCHEMA
    assert df["dataset"].unique().to_list() == ["nyu-mll/glue@c0ffee"]
    assert df["doc_id"].to_list() == list(range(5)) and df["k"].unique().to_list() == [4]  # H = 4 heads
    assert df["kept_fraction"].unique().to_list() == [1.0] and df["phase"].unique().to_list() == ["all"]
    assert df["chat_template"].unique().to_list() == [False]  # the model's setting
    labels = pl.read_parquet(root / "rte" / "validation-00000-of-00001.parquet")["label"].to_list()
    assert df["label"].to_list() == labels
    assert all(len(lp) == 2 for lp in df["logprobs"]) and all(len(s) == 2 for s in df["shot_ids"])
    assert (df["correct"] == (df["label"] == df["prediction"])).all()
    # a directory works too (labelled "glue"); k = 0; the first n documents only
    ablated = run(
        tiny_model_dirs["jamba"], str(root), tmp_path, k=0, task="mnli_mismatch", max_docs_per_task=3
    )
    assert ablated["dataset"].unique().to_list() == ["glue"] and ablated.height == 3
    assert ablated["split"].unique().to_list() == ["validation_mismatched"]
    assert all(len(lp) == 3 for lp in ablated["logprobs"])


def test_bad_inputs_fail_before_the_model_loads(snapshot, tmp_path) -> None:
    root, _ = snapshot
    missing_model = tmp_path / "no-model"
    with pytest.raises(DataError, match="no validation-"):
        run(missing_model, str(root), tmp_path, task="cola")
    with pytest.raises(ConfigError, match="unknown GLUE task"):
        run(missing_model, str(root), tmp_path, task="stsb")
    with pytest.raises(DataError, match="snapshot record"):
        run(missing_model, str(tmp_path / "absent.json"), tmp_path)


def test_glue_jobs_run_the_prefill_canary(tiny_model_dirs, snapshot, tmp_path, monkeypatch) -> None:
    """The canary on the first document's prompt (prefill: all GLUE has), and it stops a job whose
    interventions do nothing before any row is written."""
    import contextlib

    from hybrid_retrieval.jobs import canary, glue_eval
    from hybrid_retrieval.jobs.canary import CanaryError
    from hybrid_retrieval.jobs.multiple_choice import encode_pair
    from hybrid_retrieval.models.loading import load_model
    from hybrid_retrieval.tasks.glue import continuations, format_prompt, load_glue_task, select_shots

    root, record = snapshot
    calls = []
    real = glue_eval.check_interventions
    monkeypatch.setattr(glue_eval, "check_interventions", lambda *a: calls.append(a[1:]) or real(*a))
    df = run(tiny_model_dirs["jamba"], str(record), tmp_path, k=0)
    # the ids the canary saw: the first document's context, as the scorer encodes it
    tokenizer = load_model(tiny_model_dirs["jamba"]).tokenizer
    data = load_glue_task(root, "rte")
    first = select_shots(data.docs, data.train, 2, seed=glue_eval.DEFAULT_FEWSHOT_SEED)[0]
    context = format_prompt(
        data.task, data.docs[0], [data.train[i] for i in first], chat_template=False, tokenizer=tokenizer
    )
    expected = encode_pair(tokenizer, context, continuations(data.task, False)[0])[0]
    assert calls == [(expected, ("prefill",), "whole_prompt")] and df.height == 5

    # interventions that silently do nothing (a k = 0 that leaves the model untouched)
    monkeypatch.setattr(canary, "apply_intervention", lambda loaded, spec: contextlib.nullcontext())
    out = tmp_path / "broken" / "out.parquet"
    with pytest.raises(
        CanaryError, match=r"model tiny-jamba \(family jamba\), phase prefill: k = 0 left the logits"
    ):
        run(tiny_model_dirs["jamba"], str(record), tmp_path, out_path=out)
    assert not out.parent.exists() or list(out.parent.iterdir()) == []
