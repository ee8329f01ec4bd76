"""Retrieval evaluation: batched greedy decoding without padding, the paper's scoring, resumable rows.

Padding corrupts recurrent state (transformers#31540, mamba#66), so prompts are never padded: trials
are grouped by exact input length and each group runs in batches of up to `batch_size` equal-length
rows; a length that occurs once runs alone. Decoding is a manual greedy loop on the model's cache
(prefill once, then one token per step), which is what the interventions call a generation step.

Scoring (PAPER.md: lowercase, strip punctuation, collapse spaces; 5 if the whole needle sentence is a
substring of the output, else partial points, max 3). The paper's partial rule is unknown; ours:
partial = floor(3 * m / n), where n is the number of needle words and m the length of the longest
common subsequence of needle words and output words (needle words recovered in order). So an output
with every needle word in order but something in between gets 3, half the words 1, none 0.
"""

from __future__ import annotations

import math
import os
import string
import sys
import unicodedata
from collections.abc import Sequence
from itertools import groupby
from pathlib import Path

import polars as pl
import torch
from transformers import DynamicCache

from hybrid_retrieval import __version__
from hybrid_retrieval.errors import DataError
from hybrid_retrieval.interventions import InterventionSpec, apply_intervention, model_fields, validate_spec
from hybrid_retrieval.io import write_parquet
from hybrid_retrieval.models.loading import LoadedModel
from hybrid_retrieval.tasks.niah import Trial
from hybrid_retrieval.tasks.prompts import PROMPT_VERSION

EXACT_SCORE = 5
MAX_PARTIAL = 3

RETRIEVAL_SCHEMA: dict[str, pl.DataType] = {
    "model": pl.String,
    "revision": pl.String,
    "experiment": pl.String,
    "condition": pl.String,
    "intervention_hash": pl.String,
    "kind": pl.String,
    "k": pl.Int64,
    "num_heads": pl.Int64,
    "kept_fraction": pl.Float64,
    "phase": pl.String,
    "generation_mode": pl.String,
    "prefill_mode": pl.String,
    "spec_seed": pl.Int64,
    "prompt_variant": pl.String,
    "prompt_version": pl.String,
    "context_length": pl.Int64,
    "depth": pl.Float64,
    "trial_id": pl.String,
    "needle": pl.String,
    "output": pl.String,
    "score": pl.Int64,
    "exact": pl.Boolean,
    "prompt_tokens": pl.Int64,
    "needle_distance": pl.Int64,
    "package_version": pl.String,
}
SORT_KEYS = ["context_length", "depth", "trial_id", "intervention_hash"]

# ---------------------------------------------------------------------------------------------- scoring


def normalize(text: str) -> str:
    """Lowercase, drop punctuation (ASCII and Unicode), collapse whitespace."""
    text = "".join(" " if c.isspace() else c for c in text.lower())
    text = "".join(
        c for c in text if c not in string.punctuation and not unicodedata.category(c).startswith("P")
    )
    return " ".join(text.split())


def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def score_output(output: str, needle: str) -> int:
    """0..5: 5 if the normalized needle is a substring of the normalized output, else 0..3 (see module doc)."""
    target, said = normalize(needle), normalize(output)
    if not target:
        raise DataError(f"needle {needle!r} has no words after normalization; it cannot be scored")
    if f" {target} " in f" {said} ":
        return EXACT_SCORE
    words = target.split()
    return min(MAX_PARTIAL, math.floor(MAX_PARTIAL * _lcs_length(words, said.split()) / len(words)))


# ------------------------------------------------------------------------------------------- decoding


def _eos_ids(loaded: LoadedModel) -> set[int]:
    ids: set[int] = set()
    for value in (
        loaded.tokenizer.eos_token_id,
        getattr(loaded.model.generation_config, "eos_token_id", None),
    ):
        if isinstance(value, int):
            ids.add(value)
        elif value is not None:
            ids.update(int(v) for v in value)
    return ids


@torch.inference_mode()
def generate_greedy(
    loaded: LoadedModel, input_ids_batch: torch.Tensor, max_new_tokens: int
) -> list[list[int]]:
    """Greedy continuations of equal-length, unpadded prompts [batch, seq]; each row stops at EOS (dropped).

    Prefill runs once over the prompt; then one token per step on the model's cache. Rows that hit EOS
    keep being fed EOS (cheaper than reshaping the cache) but their output is frozen.
    """
    model = loaded.model
    ids = input_ids_batch.to(model.device)
    batch, length = ids.shape
    eos = _eos_ids(loaded)
    cache = DynamicCache(config=model.config)
    outputs: list[list[int]] = [[] for _ in range(batch)]
    done = torch.zeros(batch, dtype=torch.bool, device=ids.device)
    fill = torch.full((batch,), next(iter(eos)) if eos else 0, device=ids.device)
    eos_tensor = torch.tensor(sorted(eos), device=ids.device, dtype=ids.dtype)
    step_input, position = ids, torch.arange(length, device=ids.device)[None]
    for _ in range(max_new_tokens):
        logits = model(
            input_ids=step_input, position_ids=position, cache=cache, use_cache=True, logits_to_keep=1
        ).logits
        token = torch.where(done, fill, logits[:, -1].argmax(-1))
        finished = torch.isin(token, eos_tensor) & ~done
        for row in (~done & ~finished).nonzero().flatten().tolist():
            outputs[row].append(int(token[row]))
        done |= finished
        if bool(done.all()):
            break
        step_input, position = token[:, None], position[:, -1:] + 1
    return outputs


# ------------------------------------------------------------------------------------------ retrieval


def length_batches(trials: Sequence[Trial], batch_size: int) -> list[list[Trial]]:
    """Equal input length within a batch (no padding); long groups split into batch_size chunks."""
    ordered = sorted(trials, key=lambda t: (len(t.input_ids), t.context_length, t.depth, t.trial_id))
    batches = []
    for _, group in groupby(ordered, key=lambda t: len(t.input_ids)):
        group = list(group)
        batches += [group[i : i + batch_size] for i in range(0, len(group), batch_size)]
    return batches


def _row(loaded: LoadedModel, spec_columns: dict, trial: Trial, output: str, experiment: str) -> dict:
    score = score_output(output, trial.needle)
    return {
        "model": loaded.name,
        "revision": loaded.revision,
        "experiment": experiment,
        **spec_columns,
        "prompt_variant": trial.prompt_variant,
        "prompt_version": PROMPT_VERSION,
        "context_length": trial.context_length,
        "depth": float(trial.depth),
        "trial_id": trial.trial_id,
        "needle": trial.needle,
        "output": output,
        "score": score,
        "exact": score == EXACT_SCORE,
        "prompt_tokens": len(trial.input_ids),
        # tokens between the needle's (last copy's) end and the first generated position
        "needle_distance": len(trial.input_ids) - trial.needle_spans[-1][1],
        "package_version": __version__,
    }


def _frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=RETRIEVAL_SCHEMA)


def _read_existing(out_path: Path) -> pl.DataFrame:
    try:
        existing = pl.read_parquet(out_path)
    except Exception as exc:  # polars raises several types for a truncated or foreign file
        raise DataError(
            f"cannot read existing results {out_path} ({exc}); delete it or pass resume=False"
        ) from exc
    missing = set(RETRIEVAL_SCHEMA) - set(existing.columns)
    if missing:
        raise DataError(
            f"existing results {out_path} lack columns {sorted(missing)}; it was written by another version, "
            "delete it or pass resume=False"
        )
    return existing.select(list(RETRIEVAL_SCHEMA)).cast(RETRIEVAL_SCHEMA)


def _merge(kept: pl.DataFrame, new_rows: list[dict]) -> pl.DataFrame:
    return pl.concat([kept, _frame(new_rows)]).sort(SORT_KEYS)


def run_retrieval(
    loaded: LoadedModel,
    trials: Sequence[Trial],
    spec: InterventionSpec,
    *,
    experiment: str,
    max_new_tokens: int,
    batch_size: int,
    out_path: str | os.PathLike[str],
    resume: bool = True,
    checkpoint_every: int = 10,
) -> pl.DataFrame:
    """Greedy retrieval for every trial under `spec`; one row per trial, merged into `out_path`.

    The file may hold rows of other conditions (other intervention hashes): they are kept. Rows of this
    condition are reused when model, revision, prompt version and trial id match (resume=True); rows of
    this condition for trials not in `trials`, or from another model revision, are replaced. Finished
    batches are checkpointed every `checkpoint_every` batches, so a killed run keeps its work.
    Returns this condition's rows, sorted by (context_length, depth, trial_id).
    """
    if batch_size < 1 or max_new_tokens < 1:
        raise DataError(f"batch_size ({batch_size}) and max_new_tokens ({max_new_tokens}) must be >= 1")
    ids = [t.trial_id for t in trials]
    if len(set(ids)) != len(ids):
        raise DataError("trial ids repeat; build the trials once per prompt variant and pass each trial once")
    validate_spec(spec, loaded)
    out_path = Path(out_path)
    spec_hash = spec.spec_hash()
    existing = _read_existing(out_path) if out_path.exists() else _frame([])
    ours = pl.col("intervention_hash") == spec_hash
    others = existing.filter(~ours)
    reusable = existing.filter(
        ours
        & (pl.col("model") == loaded.name)
        & (pl.col("revision") == loaded.revision)
        & (pl.col("prompt_version") == PROMPT_VERSION)
        & (pl.col("experiment") == experiment)
        & pl.col("trial_id").is_in(ids)
    )
    if not resume:
        reusable = reusable.clear()
    done = set(reusable["trial_id"].to_list())
    todo = [t for t in trials if t.trial_id not in done]
    kept = pl.concat([others, reusable])

    spec_columns = {**spec.fields(), **model_fields(spec, loaded)}
    rows: list[dict] = []
    for number, batch in enumerate(length_batches(todo, batch_size), start=1):
        input_ids = torch.tensor([t.input_ids for t in batch], dtype=torch.long)
        with apply_intervention(loaded, spec, needle_spans=[t.needle_spans for t in batch]):
            generated = generate_greedy(loaded, input_ids, max_new_tokens)
        for trial, tokens in zip(batch, generated, strict=True):
            output = loaded.tokenizer.decode(tokens, skip_special_tokens=True)
            rows.append(_row(loaded, spec_columns, trial, output, experiment))
        if checkpoint_every and number % checkpoint_every == 0:
            write_parquet(_merge(kept, rows), out_path)
            print(f"[retrieval] {spec.label()}: {len(rows)}/{len(todo)} new trials", file=sys.stderr)
    merged = _merge(kept, rows)
    write_parquet(merged, out_path)
    return merged.filter(pl.col("intervention_hash") == spec_hash).sort(SORT_KEYS)
