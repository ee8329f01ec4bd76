"""GLUE as lm-evaluation-harness runs it (the `glue` tag): loading, few-shot selection, prompts, metrics.

Everything here follows lm-eval's task files (`lm_eval/tasks/glue/*/default.yaml`, `mnli/utils.py`) and
its `ConfigurableTask` / `ContextSampler` code, so that our prompts and continuations equal lm-eval's
(`tests/model/test_glue_lm_eval_agreement.py`); a test pins the templates below to the installed copy.

- Documents: the validation split (`validation_matched` / `validation_mismatched` for MNLI), in file order.
- Few-shot examples: drawn from the train split with lm-eval's default sampler: one `random.Random(seed)`
  per task (`simple_evaluate`'s `fewshot_random_seed`, default 1234), consumed in document order; each
  document draws `num_shots + 1` train rows (lm-eval's "fewshot split == test split" test holds, as both
  are unset for GLUE), drops rows equal to the document and keeps the first `num_shots`.
- Plain prompt: `text(shot) + " " + choice + "\\n\\n"` per shot, then `text(doc)`; continuations
  `" " + choice`. Chat prompt (apply_chat_template + fewshot_as_multiturn): a user turn per shot text, an
  assistant turn per shot answer, a user turn for the document, the generation prompt; continuations
  `choice` (lm-eval drops the target delimiter after a chat template).
- Metrics: `acc` (all but CoLA), `mcc` (CoLA: Matthews correlation), `f1` (MRPC, QQP: binary F1 of
  label 1), computed as lm-eval's sklearn aggregations do.

The data is a hub snapshot directory of `nyu-mll/glue` in the hub's parquet layout,
`<config>/<split>-*.parquet` (shards read in name order, as `datasets` does).
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybrid_retrieval.errors import ConfigError, DataError

HUB_DATASET = "nyu-mll/glue"  # lm-eval 0.4.13's dataset_path (0.4.9: "glue", the same data)
DEFAULT_FEWSHOT_SEED = 1234  # lm-eval's DEFAULT_OTHER_SEED, simple_evaluate's fewshot_random_seed
TRAIN_SPLIT = "train"


def _mnli_text(doc: Mapping[str, Any]) -> str:
    """lm-eval's `tasks/glue/mnli/utils.py` doc_to_text."""
    hypothesis = str(doc["hypothesis"]).strip()
    return "{}\nQuestion: {} True, False or Neither?\nAnswer:".format(
        doc["premise"], hypothesis + ("" if hypothesis.endswith(".") else ".")
    )


@dataclass(frozen=True)
class GlueTask:
    name: str  # lm-eval's task name
    config: str  # the dataset config (folder of the snapshot)
    eval_split: str
    template: str | None  # lm-eval's Jinja doc_to_text (None: MNLI's function)
    choices: tuple[str, ...]  # doc_to_choice; the label is the index
    metrics: tuple[str, ...]  # lm-eval's metric_list
    fields: tuple[str, ...]  # the text columns the prompt reads

    def text(self, doc: Mapping[str, Any]) -> str:
        """lm-eval's doc_to_text for this task."""
        if self.template is None:
            return _mnli_text(doc)
        return _jinja_env().from_string(self.template).render(**doc)


_ENV = None


def _jinja_env():
    """lm-eval's template environment (lm_eval.utils.env): StrictUndefined, trailing newline kept."""
    global _ENV
    if _ENV is None:
        import jinja2

        _ENV = jinja2.Environment(
            loader=jinja2.BaseLoader(), undefined=jinja2.StrictUndefined, keep_trailing_newline=True
        )
    return _ENV


# The `glue` tag of lm-eval, in its order; templates, choices and metrics copied from the task yamls.
GLUE_TASKS: dict[str, GlueTask] = {
    t.name: t
    for t in (
        GlueTask(
            "cola", "cola", "validation",
            "{{sentence}}\nQuestion: Does this sentence make sense?\nAnswer:",
            ("no", "yes"), ("mcc",), ("sentence",),
        ),
        GlueTask("mnli", "mnli", "validation_matched", None, ("True", "Neither", "False"), ("acc",),
                 ("premise", "hypothesis")),
        GlueTask("mnli_mismatch", "mnli", "validation_mismatched", None, ("True", "Neither", "False"),
                 ("acc",), ("premise", "hypothesis")),
        GlueTask(
            "mrpc", "mrpc", "validation",
            "Sentence 1: {{sentence1}}\nSentence 2: {{sentence2}}\nQuestion: Do both sentences mean the same "
            "thing?\nAnswer:",
            ("no", "yes"), ("acc", "f1"), ("sentence1", "sentence2"),
        ),
        GlueTask(
            "qnli", "qnli", "validation",
            "{{question}}\n{{sentence}}\nQuestion: Does this response answer the question?\nAnswer:",
            ("yes", "no"), ("acc",), ("question", "sentence"),
        ),
        GlueTask(
            "qqp", "qqp", "validation",
            "Question 1: {{question1}}\nQuestion 2: {{question2}}\nQuestion: Do both questions ask the same "
            "thing?\nAnswer:",
            ("no", "yes"), ("acc", "f1"), ("question1", "question2"),
        ),
        GlueTask(
            "rte", "rte", "validation", "{{sentence1}}\nQuestion: {{sentence2}} True or False?\nAnswer:",
            ("True", "False"), ("acc",), ("sentence1", "sentence2"),
        ),
        GlueTask(
            "sst2", "sst2", "validation",
            "{{sentence}}\nQuestion: Is this sentence positive or negative?\nAnswer:",
            ("negative", "positive"), ("acc",), ("sentence",),
        ),
        GlueTask(
            "wnli", "wnli", "validation", "{{sentence1}}\nQuestion: {{sentence2}} True or False?\nAnswer:",
            ("False", "True"), ("acc",), ("sentence1", "sentence2"),
        ),
    )
}  # fmt: skip
GLUE_TASK_NAMES: tuple[str, ...] = tuple(GLUE_TASKS)


def glue_task(name: str) -> GlueTask:
    if name not in GLUE_TASKS:
        raise ConfigError(f"unknown GLUE task {name!r}; lm-eval's glue tasks are {list(GLUE_TASK_NAMES)}")
    return GLUE_TASKS[name]


# ---------------------------------------------------------------------------------------------- loading


def read_split(root: str | os.PathLike[str], config: str, split: str) -> list[dict[str, Any]]:
    """The rows of `<root>/<config>/<split>-*.parquet` (shards in name order) as dicts, in file order."""
    import polars as pl

    root = Path(root)
    if not root.is_dir():
        raise DataError(
            f"GLUE directory {root} does not exist; download the {HUB_DATASET} dataset snapshot there "
            "(hub parquet layout <config>/<split>-*.parquet) or set experiments.glue.dataset"
        )
    folder = root / config
    shards = sorted(folder.glob(f"{split}-*.parquet"))
    if not shards:
        present = sorted(p.name for p in folder.glob("*.parquet")) if folder.is_dir() else []
        raise DataError(
            f"{folder} has no {split}-*.parquet file (found {present or 'no folder'}); the GLUE directory must "
            f"be a {HUB_DATASET} hub snapshot in the parquet layout <config>/<split>-*.parquet"
        )
    return pl.concat([pl.read_parquet(p) for p in shards], how="vertical").to_dicts()


@dataclass(frozen=True)
class GlueData:
    task: GlueTask
    docs: list[dict[str, Any]]  # the evaluation split
    train: list[dict[str, Any]]  # the few-shot pool


def load_glue_task(root: str | os.PathLike[str], name: str, *, with_train: bool = True) -> GlueData:
    """One task's evaluation documents and (for few-shot prompts) its train split, checked."""
    task = glue_task(name)
    docs = read_split(root, task.config, task.eval_split)
    train = read_split(root, task.config, TRAIN_SPLIT) if with_train else []
    for split, rows in ((task.eval_split, docs), (TRAIN_SPLIT, train)):
        if not rows:
            continue
        missing = sorted({*task.fields, "label"} - set(rows[0]))
        if missing:
            raise DataError(
                f"GLUE {task.config}/{split} lacks the columns {missing}; expected {[*task.fields, 'label']} "
                f"(the {HUB_DATASET} schema)"
            )
        bad = [
            i
            for i, r in enumerate(rows)
            if not (isinstance(r["label"], int) and 0 <= r["label"] < len(task.choices))
        ]
        if bad:
            raise DataError(
                f"GLUE {task.config}/{split} row {bad[0]} has label {rows[bad[0]]['label']!r}, not an index into "
                f"{list(task.choices)} ({len(bad)} such rows); GLUE's test splits have no labels: use validation"
            )
    if not docs:
        raise DataError(f"GLUE {task.config}/{task.eval_split} holds no rows")
    return GlueData(task, docs, train)


# ------------------------------------------------------------------------------------------- few shots


def select_shots(
    docs: Sequence[Mapping[str, Any]], pool: Sequence[Mapping[str, Any]], num_shots: int, *, seed: int
) -> list[list[int]]:
    """Per document (in order), the pool indices of its few-shot examples, drawn as lm-eval's default
    sampler draws them. The stream of draws runs through the documents in order, so the first n
    documents get the same shots whether or not the rest are scored (as with lm-eval's `limit`)."""
    if num_shots < 0:
        raise ConfigError(f"num_shots must be >= 0, got {num_shots}")
    if num_shots == 0:
        return [[] for _ in docs]
    if len(pool) < num_shots + 1:
        raise DataError(
            f"the few-shot pool (train split) has {len(pool)} rows but {num_shots} shots need at least "
            f"{num_shots + 1}; lower num_shots"
        )
    rnd = random.Random(seed)
    population = range(len(pool))  # sample() picks the same indices from a range as from the list
    out = []
    for doc in docs:
        kept = [i for i in rnd.sample(population, num_shots + 1) if pool[i] != doc][:num_shots]
        if len(kept) < num_shots:  # lm-eval 0.4.13: resample from the pool without copies of the doc
            rest = [i for i, x in enumerate(pool) if x != doc]
            kept = [rest[j] for j in rnd.sample(range(len(rest)), num_shots)]
        out.append(kept)
    return out


# ---------------------------------------------------------------------------------------------- prompts


def format_prompt(
    task: GlueTask,
    doc: Mapping[str, Any],
    shots: Sequence[Mapping[str, Any]],
    *,
    chat_template: bool = False,
    tokenizer=None,
) -> str:
    """The context for one document; `continuations` follow it."""
    if not chat_template:
        solved = "".join(f"{task.text(s)} {task.choices[s['label']]}\n\n" for s in shots)
        return solved + task.text(doc)
    if tokenizer is None or getattr(tokenizer, "chat_template", None) is None:
        raise ConfigError(
            "chat_template=True needs a tokenizer with a chat template; set chat_template: false"
        )
    turns = []
    for s in shots:
        turns += [
            {"role": "user", "content": task.text(s)},
            {"role": "assistant", "content": task.choices[s["label"]]},
        ]
    turns.append({"role": "user", "content": task.text(doc)})
    return tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)


def continuations(task: GlueTask, chat_template: bool) -> tuple[str, ...]:
    """What is scored after the prompt: lm-eval's target delimiter " " is dropped under a chat template."""
    return task.choices if chat_template else tuple(f" {c}" for c in task.choices)


# ---------------------------------------------------------------------------------------------- metrics


def binary_counts(labels: Sequence[int], predictions: Sequence[int]) -> tuple[int, int, int, int]:
    """(tp, tn, fp, fn) with label 1 positive."""
    tp = sum(1 for y, p in zip(labels, predictions, strict=True) if y == 1 and p == 1)
    tn = sum(1 for y, p in zip(labels, predictions, strict=True) if y == 0 and p == 0)
    fp = sum(1 for y, p in zip(labels, predictions, strict=True) if y == 0 and p == 1)
    fn = sum(1 for y, p in zip(labels, predictions, strict=True) if y == 1 and p == 0)
    return tp, tn, fp, fn


def metric_value(metric: str, labels: Sequence[int], predictions: Sequence[int]) -> float:
    """lm-eval's aggregation: acc = mean; mcc = sklearn.matthews_corrcoef; f1 = sklearn.f1_score (binary,
    positive label 1). Degenerate cases give 0.0, as sklearn does."""
    if not labels:
        raise DataError("no documents to compute a metric over")
    if metric == "acc":
        return sum(1 for y, p in zip(labels, predictions, strict=True) if y == p) / len(labels)
    if (set(labels) | set(predictions)) - {0, 1}:
        raise DataError(f"{metric} is defined here for binary labels 0/1, got {sorted(set(labels))}")
    tp, tn, fp, fn = binary_counts(labels, predictions)
    if metric == "f1":
        return 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    if metric == "mcc":
        denominator = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        return (tp * tn - fp * fn) / denominator if denominator else 0.0
    raise ConfigError(f"unknown GLUE metric {metric!r}; the metrics are acc, mcc, f1")
