"""Attention recordings for figures (E7): per generated step, layer and head, the attention entropy,
whether the entropy rule kept the head, and the attention mass on the needle tokens.

Step s is the forward pass that produces generated token s, decoded as the retrieval runs decode
(`decoding.prefill` + `decoding.decode`, with the model's prefill boundary): with `whole_prompt` step 0
is the prefill (its last query position), steps 1.. the single-token decoding steps; with
`last_token_as_generation` (RecurrentGemma, the authors') step 0 is the last prompt token fed as a
generation step, and the prefill of the rest of the prompt, which produces no answer token, is not
recorded. Rows come from the interventions' recorder, so they describe exactly what the intervention
did: `kept` is the heads actually kept, i.e. every head in a phase the spec leaves alone (the prefill
under phase "generation").
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl
import torch

from hybrid_retrieval.errors import ConfigError, DataError
from hybrid_retrieval.io import write_parquet
from hybrid_retrieval.rows import RECORDING_SCHEMA


@torch.inference_mode()
def _record_trial(
    loaded, trial, spec, max_new_tokens: int, prefill_boundary: str, maps: list | None = None
) -> pl.DataFrame:
    """The trial's rows; with a `maps` list, also the raw attention maps: one (step, layer_index, float32
    [h, kv_len] softmax of the step's query before any intervention, int [kv_len] absolute key positions)
    per layer and step is appended to it (attention_maps.py)."""
    from hybrid_retrieval.generation.decoding import decode, prefill
    from hybrid_retrieval.interventions import apply_intervention

    # forward passes so far; the first one produces no token under last_token_as_generation
    forward = [-1 - (prefill_boundary == "last_token_as_generation")]
    chunks: list[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]] = []

    def count_step(_module, _args, _kwargs) -> None:
        forward[0] += 1

    def record(layer_index, phase, entropy, kept, needle_mass, probabilities=None, key_positions=None) -> None:
        if forward[0] < 0:
            return
        if maps is not None:
            maps.append(
                (forward[0], layer_index, probabilities[0].float().cpu().numpy(), key_positions.cpu().numpy())
            )
        # [b=1, h, q]: keep the last query position, the one that produces this step's token.
        ent = entropy[0, :, -1].float().cpu().numpy()
        kep = kept[0, :, -1].bool().cpu().numpy() if kept is not None else np.ones_like(ent, dtype=bool)
        mass = (
            needle_mass[0, :, -1].float().cpu().numpy()
            if needle_mass is not None
            else np.full_like(ent, np.nan)
        )
        chunks.append((forward[0], layer_index, ent, kep, mass))

    record.wants_probabilities = maps is not None  # type: ignore[attr-defined]  # read by interventions.attention
    model = loaded.model
    prompt = torch.tensor([list(trial.input_ids)])
    hook = model.register_forward_pre_hook(count_step, with_kwargs=True)
    try:
        with apply_intervention(loaded, spec, needle_spans=[list(trial.needle_spans)], recorder=record):
            decode(loaded, prefill(loaded, prompt, prefill_boundary), max_new_tokens)
    finally:
        hook.remove()
    if not chunks:
        raise DataError(
            f"trial {trial.trial_id}: the attention recorder reported nothing under {spec.label()}"
        )
    num_heads = [len(c[2]) for c in chunks]
    return pl.DataFrame(
        {
            "model": loaded.name,
            "trial_id": trial.trial_id,
            "step": np.repeat([c[0] for c in chunks], num_heads),
            "layer_index": np.repeat([c[1] for c in chunks], num_heads),
            "head": np.concatenate([np.arange(n) for n in num_heads]),
            "entropy": np.concatenate([c[2] for c in chunks]),
            "kept": np.concatenate([c[3] for c in chunks]),
            "needle_mass": np.concatenate([c[4] for c in chunks]),
        }
    ).cast(RECORDING_SCHEMA)


def record_attention(
    loaded,
    trials,
    spec,
    *,
    max_new_tokens: int,
    out_path: str | os.PathLike[str] | None,
    prefill_boundary: str = "whole_prompt",
) -> pl.DataFrame:
    """Rows `model, trial_id, step, layer_index, head, entropy, kept, needle_mass` (INTERFACES.md),
    sorted by (trial_id, step, layer_index, head); one trial at a time, so no padding enters.
    `prefill_boundary`: where prefill ends (decoding.PREFILL_BOUNDARIES; see the module doc)."""
    from hybrid_retrieval.interventions import validate_spec

    if max_new_tokens < 1:
        raise ConfigError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if not trials:
        raise ConfigError("record_attention needs at least one trial")
    validate_spec(spec, loaded)
    frames = [_record_trial(loaded, t, spec, max_new_tokens, prefill_boundary) for t in trials]
    df = pl.concat(frames).sort("trial_id", "step", "layer_index", "head")
    if out_path is not None:
        write_parquet(df, Path(out_path))
    return df


def record_with_maps(
    loaded, trial, spec, *, max_new_tokens: int, prefill_boundary: str = "whole_prompt"
) -> tuple[pl.DataFrame, list[tuple[int, int, np.ndarray, np.ndarray]]]:
    """One trial's `record_attention` rows and its raw attention maps: (step, layer_index, float32 [h,
    kv_len] softmax of the step's query before any intervention, absolute key positions [kv_len]) per
    layer and step, in the order the layers ran (attention_maps.py writes them)."""
    from hybrid_retrieval.interventions import validate_spec

    if max_new_tokens < 1:
        raise ConfigError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    validate_spec(spec, loaded)
    maps: list[tuple[int, int, np.ndarray, np.ndarray]] = []
    rows = _record_trial(loaded, trial, spec, max_new_tokens, prefill_boundary, maps)
    return rows.sort("step", "layer_index", "head"), maps
