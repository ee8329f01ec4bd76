"""The columns of every per-model result file, with their dtypes: one place, read by the producers that
write the rows and by `aggregate`, which reads them back (INTERFACES.md, "Results").

Producers write a file with exactly its `*_SCHEMA` (column order included). `aggregate` reads the columns
its tables use (`read_columns`), every integer widened to Int64 and every float to Float64, so files of
different producers and versions concatenate. The intervention columns every row kind shares are spelled
once (`INTERVENTION_COLUMNS`). Imports Polars, never torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

# The condition a row ran under (interventions.InterventionSpec; num_heads and kept_fraction: model_fields).
INTERVENTION_COLUMNS: dict[str, pl.DataType] = {
    "condition": pl.String(),
    "intervention_hash": pl.String(),
    "kind": pl.String(),
    "k": pl.Int64(),
    "num_heads": pl.Int64(),
    "kept_fraction": pl.Float64(),
    "phase": pl.String(),
}

# results/{model}/retrieval/{experiment}.parquet: one row per trial x condition (evaluate.run_conditions).
RETRIEVAL_SCHEMA: dict[str, pl.DataType] = {
    "model": pl.String(),
    "revision": pl.String(),
    "experiment": pl.String(),
    **INTERVENTION_COLUMNS,
    "generation_mode": pl.String(),
    "prefill_mode": pl.String(),
    "exposure_rule": pl.String(),
    "head_score": pl.String(),
    "spec_seed": pl.Int64(),
    "prefill_boundary": pl.String(),
    "prompt_variant": pl.String(),
    "prompt_version": pl.String(),
    "context_length": pl.Int64(),
    "depth": pl.Float64(),
    "trial_id": pl.String(),
    "prompt_hash": pl.String(),
    "needle": pl.String(),
    "output": pl.String(),
    "haystack": pl.String(),
    "needle_format": pl.String(),
    "insertion": pl.String(),
    "needle_text": pl.String(),
    "needle_string": pl.String(),
    "scoring": pl.String(),
    "partial_rule": pl.String(),
    "score": pl.Float64(),
    "exact": pl.Boolean(),
    "prompt_tokens": pl.Int64(),
    "needle_distance": pl.Int64(),
    "needle_start_distance": pl.Int64(),
    "attention_window": pl.Int64(),
    "reachable": pl.Boolean(),
    "package_version": pl.String(),
}

# results/{model}/mmlu/top-{k}-heads.parquet: one row per question (multiple_choice.score_multiple_choice).
MC_SCHEMA: dict[str, pl.DataType] = {
    "model": pl.String(),
    "revision": pl.String(),
    "dataset": pl.String(),
    **INTERVENTION_COLUMNS,
    "subject": pl.String(),
    "question_id": pl.String(),
    # hash of (subject, question, choice set): the arrangements of one question share it (the toys' test
    # items, tasks/synthetic.py), and the claims resample them together
    "question_key": pl.String(),
    "answer": pl.String(),
    "prediction": pl.String(),
    "correct": pl.Boolean(),
    "logprob_a": pl.Float64(),
    "logprob_b": pl.Float64(),
    "logprob_c": pl.Float64(),
    "logprob_d": pl.Float64(),
    "num_shots": pl.Int64(),
    "chat_template": pl.Boolean(),
    "package_version": pl.String(),
}

# results/{model}/glue/{task}/top-{k}-heads.parquet: one row per validation document (glue_eval.score_glue).
GLUE_ROW_SCHEMA: dict[str, pl.DataType] = {
    "model": pl.String(),
    "revision": pl.String(),
    "dataset": pl.String(),
    "task": pl.String(),
    "split": pl.String(),
    **INTERVENTION_COLUMNS,
    "doc_id": pl.Int64(),
    "label": pl.Int64(),
    "prediction": pl.Int64(),
    "correct": pl.Boolean(),
    "logprobs": pl.List(pl.Float64()),
    "shot_ids": pl.List(pl.Int64()),
    "num_shots": pl.Int64(),
    "fewshot_seed": pl.Int64(),
    "chat_template": pl.Boolean(),
    "package_version": pl.String(),
}

# results/{model}/heads/scores.parquet: one row per attention layer x head (sparsify.head_scores).
HEAD_SCORE_SCHEMA: dict[str, pl.DataType] = {
    "model": pl.String(),
    "layer_index": pl.Int64(),
    "head": pl.Int64(),
    "mean_entropy": pl.Float64(),
    "ablation_drop": pl.Float64(),
    "entropy_rank": pl.Int64(),
    "ablation_rank": pl.Int64(),
}

# results/{model}/recordings/heads.parquet: one row per trial x generated step x layer x head (recording.py).
RECORDING_SCHEMA: dict[str, pl.DataType] = {
    "model": pl.String(),
    "trial_id": pl.String(),
    "step": pl.Int32(),
    "layer_index": pl.Int16(),
    "head": pl.Int16(),
    "entropy": pl.Float32(),
    "kept": pl.Boolean(),
    "needle_mass": pl.Float32(),
}

# results/tables/attention_maps.parquet: per model x probe x layer x head x key bin (attention_maps.summary_table).
ATTENTION_MAPS_SUMMARY_SCHEMA: dict[str, pl.DataType] = {
    "model": pl.String(),
    "probe": pl.String(),
    "context_length": pl.Int32(),
    "depth": pl.Float64(),
    "prompt_length": pl.Int32(),
    "k": pl.Int16(),
    "steps": pl.Int16(),
    "layer_index": pl.Int16(),
    "head": pl.Int16(),
    "key_start": pl.Int32(),
    "key_end": pl.Int32(),
    "mass": pl.Float32(),
    "kept_rate": pl.Float32(),
    "needle_start": pl.Int32(),
    "needle_end": pl.Int32(),
}


def intervention_values(spec_fields: Mapping[str, Any], heads: Mapping[str, Any]) -> dict[str, Any]:
    """A row's `INTERVENTION_COLUMNS`, in order, from `InterventionSpec.fields()` and
    `interventions.model_fields(spec, loaded)` (num_heads, kept_fraction)."""
    values = {**spec_fields, **heads}
    return {name: values[name] for name in INTERVENTION_COLUMNS}


def read_columns(schema: dict[str, pl.DataType], *names: str) -> dict[str, pl.DataType]:
    """`names` of a producer's `schema`, in this order, with the dtype `aggregate` casts them to: integers
    as Int64, floats as Float64, everything else as written."""
    unknown = [n for n in names if n not in schema]
    if unknown:
        raise KeyError(f"columns {unknown} are not in the schema; its columns are {list(schema)}")
    return {n: _widened(schema[n]) for n in names}


def _widened(dtype: pl.DataType) -> pl.DataType:
    if dtype.is_integer():
        return pl.Int64()
    if dtype.is_float():
        return pl.Float64()
    return dtype


# The columns `aggregate` reads from each kind of file (its tables use no others).
RETRIEVAL_COLUMNS = read_columns(
    RETRIEVAL_SCHEMA,
    "model", "experiment", "condition", "kind", "k", "num_heads", "kept_fraction", "phase", "generation_mode",
    "prefill_mode", "prompt_variant", "context_length", "depth", "score", "exact", "reachable", "trial_id",
    "haystack", "needle", "prompt_hash",
)  # fmt: skip
MC_COLUMNS = read_columns(
    MC_SCHEMA,
    "model", "dataset", "condition", "kind", "k", "num_heads", "kept_fraction", "phase", "subject",
    "question_id", "question_key", "correct",
)  # fmt: skip
GLUE_COLUMNS = read_columns(
    GLUE_ROW_SCHEMA,
    "model", "dataset", "task", "condition", "kind", "k", "num_heads", "kept_fraction", "phase", "label",
    "prediction",
)  # fmt: skip
HEAD_SCORE_COLUMNS = read_columns(HEAD_SCORE_SCHEMA, *HEAD_SCORE_SCHEMA)
RECORDING_COLUMNS = read_columns(
    RECORDING_SCHEMA, "model", "layer_index", "head", "entropy", "kept", "needle_mass"
)
