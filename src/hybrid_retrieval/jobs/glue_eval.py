"""GLUE under an intervention (the paper's E5, alongside MMLU): one row per validation document.

Prompts, few-shot draws and metrics are lm-eval's (`hybrid_retrieval.tasks.glue`); the log-likelihoods
come from the shared multiple-choice scorer (`multiple_choice.score_choices`), so the choice per document
equals lm-eval's `simple_evaluate` on the same model (`tests/model/test_glue_lm_eval_agreement.py`).
Rows: INTERFACES.md "GLUE"; the per-task metrics (acc, mcc, f1) are computed from them by
`aggregate.glue_summary`. Like every model job, the score_glue job (`run_glue`) first runs the intervention
canary (`canary`) on its first document's prompt, in prefill (the only phase multiple choice has), before any
row is written.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from hybrid_retrieval import __version__
from hybrid_retrieval.errors import ConfigError
from hybrid_retrieval.infra.progress import duration
from hybrid_retrieval.io import write_parquet
from hybrid_retrieval.jobs.canary import check_interventions
from hybrid_retrieval.jobs.multiple_choice import encode_pair, score_choices
from hybrid_retrieval.rows import GLUE_ROW_SCHEMA, intervention_values  # the columns of a GLUE row
from hybrid_retrieval.tasks.glue import (
    DEFAULT_FEWSHOT_SEED,
    GlueData,
    continuations,
    format_prompt,
    load_glue_task,
    select_shots,
)

log = logging.getLogger(__name__)


def score_glue(
    loaded,
    data: GlueData,
    *,
    spec,
    num_shots: int,
    chat_template: bool,
    batch_size: int,
    fewshot_seed: int = DEFAULT_FEWSHOT_SEED,
    max_docs: int | None = None,
    dataset: str = "glue",
    out_path: str | os.PathLike[str] | None = None,
    canary: bool = False,
) -> pl.DataFrame:
    """Score the first `max_docs` (None = all) validation documents of one task; rows in document order.
    `canary`: first check on the first document's prompt that the interventions act (`canary`; the job
    sets it; a model built outside `load_model`, e.g. with SDPA attention, would fail it by design)."""
    from hybrid_retrieval.interventions import model_fields

    if max_docs is not None and max_docs < 1:
        raise ConfigError(f"max_docs must be >= 1 or None (all), got {max_docs}")
    task = data.task
    docs = data.docs[: max_docs or None]
    shots = select_shots(docs, data.train, num_shots, seed=fewshot_seed)
    conts = continuations(task, chat_template)
    prompts = [
        (format_prompt(task, doc, [data.train[i] for i in ids], chat_template=chat_template,
                       tokenizer=loaded.tokenizer), conts)
        for doc, ids in zip(docs, shots, strict=True)
    ]  # fmt: skip
    log.info(
        "%s: %d of %d %s documents, %d shots (seed %d), chat template %s, %s",
        task.name, len(docs), len(data.docs), task.eval_split, num_shots, fewshot_seed, chat_template, spec.label(),
    )  # fmt: skip
    if canary and prompts:  # on the first document's context (prefill only), before any row is written
        context, choices = prompts[0]
        check_interventions(
            loaded, encode_pair(loaded.tokenizer, context, choices[0])[0], ("prefill",), "whole_prompt"
        )
    label = f"glue/{task.name} {spec.label()} on {loaded.name}"
    started = time.monotonic()  # progress lines (count, rate, ETA) while scoring, then one result line
    scores = score_choices(loaded, prompts, spec=spec, batch_size=batch_size, label=label)

    common: dict[str, Any] = {
        "model": loaded.name,
        "revision": loaded.revision,
        "dataset": dataset,
        "task": task.name,
        "split": task.eval_split,
        **intervention_values(spec.fields(), model_fields(spec, loaded)),
        "num_shots": num_shots,
        "fewshot_seed": fewshot_seed,
        "chat_template": chat_template,
        "package_version": __version__,
    }
    rows = []
    for doc_id, (doc, lp, ids) in enumerate(zip(docs, scores, shots, strict=True)):
        prediction = max(range(len(lp)), key=lambda i: lp[i])  # first maximum on ties, like np.argmax
        rows.append(
            {
                **common,
                "doc_id": doc_id,
                "label": doc["label"],
                "prediction": prediction,
                "correct": prediction == doc["label"],
                "logprobs": lp,
                "shot_ids": ids,
            }
        )
    df = pl.DataFrame(rows, schema=GLUE_ROW_SCHEMA)
    if out_path is not None:
        write_parquet(df, Path(out_path))
    correct = int(df["correct"].sum())
    log.info(
        "%s: %d documents, accuracy %.4f (%d correct) in %s -> %s",
        label, df.height, correct / df.height if df.height else 0.0, correct,
        duration(time.monotonic() - started), out_path if out_path is not None else "(not written)",
    )  # fmt: skip
    return df


def run_glue(
    model_dir: str | os.PathLike[str],
    *,
    model: Mapping[str, Any],
    dataset: str | os.PathLike[str],
    task: str,
    k: int | str,
    num_shots: int,
    chat_template: bool | None,
    batch_size: int,
    out_path: str | os.PathLike[str],
    fewshot_seed: int = DEFAULT_FEWSHOT_SEED,
    max_docs_per_task: int | None = None,
    head_score: str = "entropy",
    device: str = "cpu",
    threads: int = 1,
) -> pl.DataFrame:
    """E5 (GLUE): one task's validation split, `num_shots` shots from train, entropy top-k at every
    position (the paper's prefill=True). `dataset`: the workflow's snapshot record (`snapshot.json` of
    rule download_dataset) or a nyu-mll/glue snapshot directory."""
    from hybrid_retrieval.config import as_model_params
    from hybrid_retrieval.jobs.experiments import _topk, load, resolve_k

    root, label = resolve_source(dataset)
    data = load_glue_task(root, task, with_train=int(num_shots) > 0)  # data errors before the model loads
    loaded = load(model_dir, model, device=device, threads=threads)
    chat = as_model_params(model).chat_template if chat_template is None else bool(chat_template)
    spec = _topk(resolve_k(k, loaded), "all", head_score)
    return score_glue(
        loaded,
        data,
        spec=spec,
        num_shots=int(num_shots),
        chat_template=chat,
        batch_size=int(batch_size),
        fewshot_seed=int(fewshot_seed),
        max_docs=max_docs_per_task,
        dataset=label,
        out_path=out_path,
        canary=True,
    )


def resolve_source(dataset: str | os.PathLike[str]) -> tuple[Path, str]:
    """(snapshot directory, the `dataset` label of the rows): a `snapshot.json` record gives its cached
    path and "<repo_id>@<commit>"; a directory is used as it is, labelled "glue"."""
    text = str(dataset)
    if text.endswith(".json"):
        from hybrid_retrieval.infra.hub import read_snapshot_record

        record = read_snapshot_record(text)
        return Path(record["path"]), f"{record['repo_id']}@{record['commit']}"
    return Path(text), "glue"
