"""The exact prompts of a retrieval job, beside its rows (as lm-eval's `--log_samples`): `--write-prompts`.

A row stores `prompt_hash` (`evaluate.prompt_hash`: sha1 of the model's input ids), not the prompt. With
`write_prompts` on, `run_experiment` also writes `<out stem>.prompts.jsonl` next to `<out stem>.parquet`: one
JSON object per distinct prompt, in trial order, keyed by that hash, with the rendered text and the exact
input ids, so the prompt behind any row can be read by joining on `prompt_hash`:

    {"prompt_hash": "...", "trial_id": "...", "prompt_variant": "standard", "context_length": 512,
     "depth": 50.0, "needle": "...", "prompt": "...", "input_ids": [2, ...]}

It is not a declared output of the workflow (Snakemake neither requires nor deletes it) and changes no row.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hybrid_retrieval.io import write_text

SUFFIX = ".prompts.jsonl"


def prompts_path(out_path: str | os.PathLike[str]) -> Path:
    """results/<model>/retrieval/baseline.parquet -> results/<model>/retrieval/baseline.prompts.jsonl"""
    out_path = Path(out_path)
    return out_path.with_name(out_path.stem + SUFFIX)


def prompt_records(trials: Iterable[Any]) -> list[dict[str, Any]]:
    """One record per distinct prompt (first trial wins), in trial order (`tasks.niah.Trial`s)."""
    from hybrid_retrieval.jobs.evaluate import prompt_hash

    records: dict[str, dict[str, Any]] = {}
    for trial in trials:
        key = prompt_hash(trial.input_ids)
        if key not in records:
            records[key] = {
                "prompt_hash": key,
                "trial_id": trial.trial_id,
                "prompt_variant": trial.prompt_variant,
                "context_length": trial.context_length,
                "depth": trial.depth,
                "needle": trial.needle,
                "prompt": trial.prompt,
                "input_ids": [int(t) for t in trial.input_ids],
            }
    return list(records.values())


def write_prompts(trials: Iterable[Any], out_path: str | os.PathLike[str]) -> Path:
    """Write the prompts of `trials` beside `out_path` (atomically); returns the file written."""
    lines = [json.dumps(record, ensure_ascii=False, sort_keys=True) for record in prompt_records(trials)]
    return write_text("".join(line + "\n" for line in lines), prompts_path(out_path))
