"""GLUE task definitions, loader, few-shot draws, prompts and metrics (no model)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import glue_fixture as fx  # noqa: E402

from hybrid_retrieval.errors import ConfigError, DataError  # noqa: E402
from hybrid_retrieval.tasks.glue import (  # noqa: E402
    GLUE_TASK_NAMES,
    GLUE_TASKS,
    continuations,
    format_prompt,
    load_glue_task,
    metric_value,
    read_split,
    select_shots,
)


def test_tasks_are_lm_evals_glue_tasks() -> None:
    """Templates, choices, splits and metrics equal the installed lm-eval task files."""
    lm_eval = pytest.importorskip("lm_eval")
    import yaml

    glue_dir = Path(lm_eval.__file__).parent / "tasks" / "glue"

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!function", lambda loader, node: ("function", loader.construct_scalar(node)))
    configs = {}
    for path in sorted(glue_dir.glob("*/*.yaml")):
        cfg = yaml.load(path.read_text(), Loader=Loader)
        if "include" in cfg:
            cfg = {**yaml.load((path.parent / cfg["include"]).read_text(), Loader=Loader), **cfg}
        configs[cfg["task"]] = cfg
    assert set(configs) == set(GLUE_TASK_NAMES)
    for name, task in GLUE_TASKS.items():
        cfg = configs[name]
        assert cfg["dataset_name"] == task.config and cfg["validation_split"] == task.eval_split, name
        assert cfg["training_split"] == "train" and "fewshot_split" not in cfg and "test_split" not in cfg
        assert tuple(cfg["doc_to_choice"]) == task.choices, name
        assert tuple(m["metric"] for m in cfg["metric_list"]) == task.metrics, name
        assert cfg["doc_to_target"] == "label" and cfg["output_type"] == "multiple_choice"
        assert cfg.get("description") is None and cfg.get("target_delimiter", " ") == " "
        if task.template is None:
            assert cfg["doc_to_text"] == ("function", "utils.doc_to_text")
        else:
            assert cfg["doc_to_text"] == task.template, name


def test_mnli_text_equals_lm_evals_function() -> None:
    pytest.importorskip("lm_eval")
    from lm_eval.tasks.glue.mnli.utils import doc_to_text

    for doc in [
        {"premise": "A cat sat.", "hypothesis": " The cat sat ", "label": 0},
        {"premise": "A cat sat.", "hypothesis": "The cat sat.", "label": 0},
        *fx.make_rows("mnli", 20, seed=3),
    ]:
        assert GLUE_TASKS["mnli"].text(doc) == doc_to_text(doc)


def test_loader_reads_the_hub_parquet_layout(tmp_path) -> None:
    root = fx.write_glue_snapshot(tmp_path / "glue", configs=("cola", "mnli"), n_train=5, n_eval=4)
    # a second shard is appended in name order, as `datasets` reads a split's files
    extra = fx.make_rows("cola", 2, seed=9)
    pl.DataFrame(extra).write_parquet(root / "cola" / "validation-00001-of-00002.parquet")
    rows = read_split(root, "cola", "validation")
    first = pl.read_parquet(root / "cola" / "validation-00000-of-00001.parquet").to_dicts()
    assert rows == first + extra
    data = load_glue_task(root, "mnli_mismatch")
    assert data.task.eval_split == "validation_mismatched" and len(data.docs) == 4 and len(data.train) == 5
    assert (
        data.docs
        == pl.read_parquet(root / "mnli" / "validation_mismatched-00000-of-00001.parquet").to_dicts()
    )


def test_loader_errors_name_the_problem(tmp_path) -> None:
    with pytest.raises(DataError, match="does not exist.*nyu-mll/glue"):
        load_glue_task(tmp_path / "absent", "cola")
    root = fx.write_glue_snapshot(tmp_path / "glue", configs=("cola",))
    with pytest.raises(DataError, match=r"rte.*no validation-\*\.parquet"):
        load_glue_task(root, "rte")
    with pytest.raises(ConfigError, match="unknown GLUE task 'stsb'"):
        load_glue_task(root, "stsb")
    bad = fx.make_rows("cola", 3, seed=1)
    bad[1]["label"] = -1  # GLUE's unlabeled test rows
    pl.DataFrame(bad).write_parquet(root / "cola" / "validation-00000-of-00001.parquet")
    with pytest.raises(DataError, match="row 1 has label -1"):
        load_glue_task(root, "cola")
    pl.DataFrame([{"text": "x", "label": 0}]).write_parquet(
        root / "cola" / "validation-00000-of-00001.parquet"
    )
    with pytest.raises(DataError, match=r"lacks the columns \['sentence'\]"):
        load_glue_task(root, "cola")


def test_shots_follow_lm_evals_sampler() -> None:
    pool = fx.make_rows("rte", 30, seed=1)
    docs = fx.make_rows("rte", 12, seed=2)
    docs[3] = pool[7]  # a document that is also in the pool is never its own shot
    shots = select_shots(docs, pool, 3, seed=1234)
    # lm-eval: one Random(seed) per task, `sample(pool, n + 1)` per document in order, doc removed, first n
    rnd = random.Random(1234)
    expected = []
    for doc in docs:
        drawn = rnd.sample(pool, 4)
        expected.append([x for x in drawn if x != doc][:3])
    assert [[pool[i] for i in ids] for ids in shots] == expected
    assert all(pool[i] != docs[3] for i in shots[3])
    # the first n documents get the same shots when fewer documents are scored (lm-eval's limit)
    assert select_shots(docs[:5], pool, 3, seed=1234) == shots[:5]
    assert select_shots(docs, pool, 3, seed=1) != shots
    assert select_shots(docs, pool, 0, seed=1234) == [[] for _ in docs]
    with pytest.raises(DataError, match="lower num_shots"):
        select_shots(docs, pool[:3], 3, seed=0)


def test_own_copy_removed_and_resampled_when_the_pool_repeats_the_doc() -> None:
    doc = {"sentence1": "a", "sentence2": "b", "label": 0, "idx": 0}
    other = [{"sentence1": "c", "sentence2": str(i), "label": 1, "idx": i} for i in range(1, 3)]
    pool = [doc, doc, *other]  # drawing 3 of 4 can take both copies: lm-eval 0.4.13 resamples
    for seed in range(20):
        (ids,) = select_shots([doc], pool, 2, seed=seed)
        assert len(ids) == 2 and all(pool[i] != doc for i in ids)


def test_plain_and_chat_prompts() -> None:
    task = GLUE_TASKS["sst2"]
    shots = [{"sentence": "good film", "label": 1, "idx": 0}, {"sentence": "bad", "label": 0, "idx": 1}]
    doc = {"sentence": "very good", "label": 1, "idx": 2}
    q = "\nQuestion: Is this sentence positive or negative?\nAnswer:"
    assert format_prompt(task, doc, shots) == (f"good film{q} positive\n\nbad{q} negative\n\nvery good{q}")
    assert continuations(task, False) == (" negative", " positive")
    assert continuations(task, True) == ("negative", "positive")

    class ChatTokenizer:
        chat_template = "x"

        def apply_chat_template(self, turns, tokenize, add_generation_prompt):
            assert tokenize is False and add_generation_prompt is True
            return "|".join(f"{t['role']}:{t['content']}" for t in turns)

    assert format_prompt(task, doc, shots, chat_template=True, tokenizer=ChatTokenizer()) == (
        f"user:good film{q}|assistant:positive|user:bad{q}|assistant:negative|user:very good{q}"
    )
    with pytest.raises(ConfigError, match="chat template"):
        format_prompt(task, doc, shots, chat_template=True, tokenizer=None)


def test_metrics_equal_sklearn() -> None:
    sklearn = pytest.importorskip("sklearn.metrics")
    rng = random.Random(0)
    cases = [([0, 1, 1, 0], [0, 1, 0, 0]), ([1, 1, 1], [1, 1, 1]), ([0, 0, 1], [0, 0, 0]), ([1, 0], [0, 1])]
    cases += [
        ([rng.randrange(2) for _ in range(25)], [rng.randrange(2) for _ in range(25)]) for _ in range(20)
    ]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for y, p in cases:
            assert metric_value("acc", y, p) == pytest.approx(sklearn.accuracy_score(y, p))
            assert metric_value("mcc", y, p) == pytest.approx(sklearn.matthews_corrcoef(y, p))
            assert metric_value("f1", y, p) == pytest.approx(sklearn.f1_score(y, p))
    assert metric_value("acc", [0, 1, 2], [0, 2, 2]) == pytest.approx(2 / 3)
    with pytest.raises(DataError, match="binary"):
        metric_value("mcc", [0, 1, 2], [0, 1, 1])
    with pytest.raises(ConfigError, match="unknown GLUE metric"):
        metric_value("auc", [0, 1], [0, 1])
