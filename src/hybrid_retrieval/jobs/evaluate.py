"""Retrieval evaluation: batched greedy decoding without padding, the paper's scoring, resumable rows.

Padding corrupts recurrent state (transformers#31540, mamba#66), so prompts are never padded: trials
are grouped by exact input length and each group runs in batches of up to `batch_size` equal-length
rows; a length that occurs once runs alone. Decoding is a manual greedy loop on the model's cache
(prefill once, then one token per step), which is what the interventions call a generation step.

Scoring: `hybrid_retrieval.tasks.scoring` (the authors' rule by default; `retrieval.scoring` names it).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from itertools import groupby
from pathlib import Path

import polars as pl
import torch

from hybrid_retrieval import __version__
from hybrid_retrieval.errors import DataError
from hybrid_retrieval.generation.decoding import (
    PREFILL_BOUNDARIES,
    branch,
    decode,
    generate_greedy,
    prefill,
    prefill_is_intact,
)
from hybrid_retrieval.infra.progress import Progress
from hybrid_retrieval.interventions import InterventionSpec, apply_intervention, model_fields, validate_spec
from hybrid_retrieval.interventions.row_interventions import apply_row_interventions
from hybrid_retrieval.io import write_parquet
from hybrid_retrieval.models.loading import LoadedModel
from hybrid_retrieval.rows import RETRIEVAL_SCHEMA  # the columns of a retrieval row
from hybrid_retrieval.tasks.niah import Trial
from hybrid_retrieval.tasks.prompts import PROMPT_VERSION
from hybrid_retrieval.tasks.scoring import EXACT_SCORE, partial_rule, score_output

SORT_KEYS = ["context_length", "depth", "trial_id", "intervention_hash"]

# ------------------------------------------------------------------------------------------- decoding


# Prefill and decode live in hybrid_retrieval.generation.decoding (one prefill feeds many conditions);
# generate_greedy is imported above for the callers of this module.


# ------------------------------------------------------------------------------------------ retrieval


def length_batches(trials: Sequence[Trial], batch_size: int) -> list[list[Trial]]:
    """Equal input length within a batch (no padding); long groups split into batch_size chunks."""
    ordered = sorted(trials, key=lambda t: (len(t.input_ids), t.context_length, t.depth, t.trial_id))
    batches = []
    for _, group in groupby(ordered, key=lambda t: len(t.input_ids)):
        group = list(group)
        batches += [group[i : i + batch_size] for i in range(0, len(group), batch_size)]
    return batches


def prompt_hash(input_ids: Sequence[int]) -> str:
    """The identity of a model input: sha1 of its token ids (int64, little-endian), first 16 hex digits.
    Two trials with equal hashes under one condition are one observation (greedy decoding is a function
    of the input), which is how the summaries count `n_distinct` and the claims count evidence."""
    data = b"".join(int(t).to_bytes(8, "little", signed=True) for t in input_ids)
    return hashlib.sha1(data).hexdigest()[:16]


def _row(
    loaded: LoadedModel, spec_columns: dict, trial: Trial, output: str, experiment: str, scoring: str
) -> dict:
    score = score_output(output, trial.needle, scoring)
    window = spec_columns["attention_window"]
    start_distance = len(trial.input_ids) - trial.needle_spans[-1][0]
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
        "prompt_hash": prompt_hash(trial.input_ids),
        "needle": trial.needle,
        "haystack": trial.haystack_id,
        "needle_format": trial.needle_format,
        "insertion": trial.insertion,
        "needle_text": trial.needle_text,
        "needle_string": trial.needle_string,
        "scoring": scoring,
        "partial_rule": partial_rule(trial.needle, scoring),
        "output": output,
        "score": score,
        "exact": score == EXACT_SCORE,
        "prompt_tokens": len(trial.input_ids),
        # tokens between the needle's (last copy's) end and the first generated position
        "needle_distance": len(trial.input_ids) - trial.needle_spans[-1][1],
        # from the needle's (last copy's) first token to the end of the prompt: the first answer step's
        # query (the last prompt position) sees `window` positions, itself included
        "needle_start_distance": start_distance,
        "reachable": window is None or start_distance <= window,
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


def _todo(
    existing: pl.DataFrame,
    loaded: LoadedModel,
    spec: InterventionSpec,
    current: pl.DataFrame,
    *,
    experiment: str,
    scoring: str,
    prefill_boundary: str,
    resume: bool,
) -> pl.DataFrame:
    """The rows of `existing` that `spec` can reuse (resume=True): same model, revision, prompt version,
    experiment, scoring, prefill boundary, and a trial of this run with the same model input (`current`:
    trial_id and prompt_hash; a trial id survives a change of needle string or insertion rule, its prompt
    hash does not)."""
    if not resume:
        return existing.clear()
    return existing.filter(
        (pl.col("intervention_hash") == spec.spec_hash())
        & (pl.col("model") == loaded.name)
        & (pl.col("revision") == loaded.revision)
        & (pl.col("prompt_version") == PROMPT_VERSION)
        & (pl.col("experiment") == experiment)
        & (pl.col("scoring") == scoring)
        & (pl.col("prefill_boundary") == prefill_boundary)
    ).join(current, on=["trial_id", "prompt_hash"], how="semi")


def run_conditions(
    loaded: LoadedModel,
    trials: Sequence[Trial],
    specs: Sequence[InterventionSpec],
    *,
    experiment: str,
    max_new_tokens: int,
    batch_size: int,
    out_path: str | os.PathLike[str],
    prefill_boundary: str = "whole_prompt",
    resume: bool = True,
    checkpoint_every: int = 10,
    scoring: str = "authors",
    fast_prefill: bool = True,
    max_rows: int = 64,
) -> pl.DataFrame:
    """Greedy retrieval for every trial under every spec; one row per (trial, spec), merged into `out_path`.

    The file may hold rows of other conditions (other intervention hashes): they are kept. Rows of these
    conditions are reused when `_todo` says so (resume=True); rows of these conditions for trials not in
    `trials`, or from another model revision / boundary, are replaced. Every spec that leaves the prefill
    intact (`decoding.prefill_is_intact`: generation-phase specs with prefill mode keep) shares one
    prefill per length batch (SDPA when `fast_prefill`), each decoding from its own copy of the state;
    the other specs prefill under their intervention. Conditions that share a prefill also decode
    together, as rows of one batch of at most `max_rows` rows (`row_interventions`: each condition's
    rows under its own spec; mixer ablations alone); max_rows=1 decodes each condition on its own.
    Finished batches are checkpointed every
    `checkpoint_every` batches, so a killed run keeps its work. Returns the rows of `specs`, sorted.
    """
    if batch_size < 1 or max_new_tokens < 1 or max_rows < 1:
        raise DataError(
            f"batch_size ({batch_size}), max_new_tokens ({max_new_tokens}) and max_rows ({max_rows}) must be >= 1"
        )
    if prefill_boundary not in PREFILL_BOUNDARIES:
        raise DataError(f"prefill_boundary {prefill_boundary!r} is not one of {', '.join(PREFILL_BOUNDARIES)}")
    ids = [t.trial_id for t in trials]
    if len(set(ids)) != len(ids):
        raise DataError("trial ids repeat; build the trials once per prompt variant and pass each trial once")
    hashes = [spec.spec_hash() for spec in specs]
    if len(set(hashes)) != len(hashes):
        raise DataError("a condition repeats; pass each intervention spec once")
    for spec in specs:
        validate_spec(spec, loaded)
    out_path = Path(out_path)
    existing = _read_existing(out_path) if out_path.exists() else _frame([])
    current = pl.DataFrame(
        {"trial_id": ids, "prompt_hash": [prompt_hash(t.input_ids) for t in trials]},
        schema={"trial_id": pl.String, "prompt_hash": pl.String},
    )
    ours = pl.col("intervention_hash").is_in(hashes)
    kept_parts = [existing.filter(~ours)]
    todo: dict[str, set[str]] = {}
    for spec, spec_hash in zip(specs, hashes, strict=True):
        reusable = _todo(
            existing.filter(pl.col("intervention_hash") == spec_hash), loaded, spec, current,
            experiment=experiment, scoring=scoring, prefill_boundary=prefill_boundary, resume=resume,
        )  # fmt: skip
        kept_parts.append(reusable)
        todo[spec_hash] = set(ids) - set(reusable["trial_id"].to_list())
    kept = pl.concat(kept_parts)
    columns = {
        h: {**spec.fields(), **model_fields(spec, loaded), "prefill_boundary": prefill_boundary}
        for spec, h in zip(specs, hashes, strict=True)
    }
    shared = [(s, h) for s, h in zip(specs, hashes, strict=True) if prefill_is_intact(s)]
    own = [(s, h) for s, h in zip(specs, hashes, strict=True) if not prefill_is_intact(s)]

    rows: list[dict] = []

    def add(spec_hash: str, batch: list[Trial], generated: list[list[int]]) -> None:
        for trial, tokens in zip(batch, generated, strict=True):
            output = loaded.tokenizer.decode(tokens, skip_special_tokens=True)
            rows.append(_row(loaded, columns[spec_hash], trial, output, experiment, scoring))

    pending = [t for t in trials if any(t.trial_id in todo[h] for h in hashes)]
    progress = Progress(f"{experiment} on {loaded.name}", sum(map(len, todo.values())), "rows")
    for number, batch in enumerate(length_batches(pending, batch_size), start=1):
        input_ids = torch.tensor([t.input_ids for t in batch], dtype=torch.long)
        wanted = {h: [i for i, t in enumerate(batch) if t.trial_id in todo[h]] for h in hashes}
        users = [(s, h) for s, h in shared if wanted[h]]
        if users:
            start = prefill(loaded, input_ids, prefill_boundary, fast_attention=fast_prefill)
            for chunk in _row_chunks(users, wanted, max_rows):
                index = [i for _, h in chunk for i in wanted[h]]
                groups = [(spec, [batch[i].needle_spans for i in wanted[h]]) for spec, h in chunk]
                if len(chunk) == 1:
                    context = apply_intervention(loaded, chunk[0][0], needle_spans=groups[0][1])
                else:
                    context = apply_row_interventions(loaded, groups)
                with context:
                    generated = decode(loaded, branch(start, index), max_new_tokens)
                for _, spec_hash in chunk:
                    count = len(wanted[spec_hash])
                    add(spec_hash, [batch[i] for i in wanted[spec_hash]], generated[:count])
                    generated = generated[count:]
        for spec, spec_hash in own:
            if not wanted[spec_hash]:
                continue
            rows_of = [batch[i] for i in wanted[spec_hash]]
            with apply_intervention(loaded, spec, needle_spans=[t.needle_spans for t in rows_of]):
                generated = generate_greedy(
                    loaded, input_ids[wanted[spec_hash]], max_new_tokens, prefill_boundary=prefill_boundary
                )
            add(spec_hash, rows_of, generated)
        progress.update(len(rows) - progress.done)
        if checkpoint_every and number % checkpoint_every == 0:
            write_parquet(_merge(kept, rows), out_path)
    merged = _merge(kept, rows)
    write_parquet(merged, out_path)
    return merged.filter(ours).sort(SORT_KEYS)


def _row_chunks(
    users: list[tuple[InterventionSpec, str]], wanted: dict[str, list[int]], max_rows: int
) -> list[list[tuple[InterventionSpec, str]]]:
    """Consecutive conditions packed into batches of at most `max_rows` rows (a condition is never split;
    one larger than max_rows runs alone); mixer ablations always alone."""
    chunks: list[list[tuple[InterventionSpec, str]]] = []
    rows = 0
    for spec, spec_hash in users:
        n = len(wanted[spec_hash])
        alone = spec.kind == "mixer_ablation"
        if alone or not chunks or rows + n > max_rows or chunks[-1][0][0].kind == "mixer_ablation":
            chunks.append([(spec, spec_hash)])
            rows = n
        else:
            chunks[-1].append((spec, spec_hash))
            rows += n
    return chunks


def run_retrieval(
    loaded: LoadedModel,
    trials: Sequence[Trial],
    spec: InterventionSpec,
    **kwargs,
) -> pl.DataFrame:
    """`run_conditions` for one spec (same keyword arguments); returns this condition's rows."""
    return run_conditions(loaded, trials, [spec], **kwargs)
