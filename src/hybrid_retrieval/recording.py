"""Attention recordings for figures (E7): per generated step, layer and head, the attention entropy,
whether the entropy rule kept the head, and the attention mass on the needle tokens.

Step s is the forward pass that produces generated token s: step 0 is the prefill (its last query
position), steps 1.. are the single-token decoding steps. Rows come from the interventions' recorder,
so they describe exactly what the intervention did: `kept` is the heads actually kept, i.e. every head
in a phase the spec leaves alone (the prefill under phase "generation").
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl
import torch

from hybrid_retrieval.errors import ConfigError, DataError
from hybrid_retrieval.io import write_parquet

SCHEMA = {
    "model": pl.String,
    "trial_id": pl.String,
    "step": pl.Int32,
    "layer_index": pl.Int16,
    "head": pl.Int16,
    "entropy": pl.Float32,
    "kept": pl.Boolean,
    "needle_mass": pl.Float32,
}


@torch.inference_mode()
def _record_trial(loaded, trial, spec, max_new_tokens: int) -> pl.DataFrame:
    from hybrid_retrieval.interventions import apply_intervention

    step = [-1]
    chunks: list[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]] = []

    def count_step(_module, _args, _kwargs) -> None:
        step[0] += 1

    def record(layer_index, phase, entropy, kept, needle_mass) -> None:
        # [b=1, h, q]: keep the last query position, the one that produces this step's token.
        ent = entropy[0, :, -1].float().cpu().numpy()
        kep = kept[0, :, -1].bool().cpu().numpy() if kept is not None else np.ones_like(ent, dtype=bool)
        mass = (
            needle_mass[0, :, -1].float().cpu().numpy()
            if needle_mass is not None
            else np.full_like(ent, np.nan)
        )
        chunks.append((step[0], layer_index, ent, kep, mass))

    model = loaded.model
    prompt = torch.tensor([list(trial.input_ids)], device=next(model.parameters()).device)
    hook = model.register_forward_pre_hook(count_step, with_kwargs=True)
    try:
        with apply_intervention(loaded, spec, needle_spans=[list(trial.needle_spans)], recorder=record):
            model.generate(
                prompt,
                attention_mask=torch.ones_like(prompt),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=loaded.tokenizer.pad_token_id or loaded.tokenizer.eos_token_id or 0,
            )
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
    ).cast(SCHEMA)


def record_attention(
    loaded,
    trials,
    spec,
    *,
    max_new_tokens: int,
    out_path: str | os.PathLike[str] | None,
) -> pl.DataFrame:
    """Rows `model, trial_id, step, layer_index, head, entropy, kept, needle_mass` (INTERFACES.md),
    sorted by (trial_id, step, layer_index, head); one trial at a time, so no padding enters."""
    from hybrid_retrieval.interventions import validate_spec

    if max_new_tokens < 1:
        raise ConfigError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if not trials:
        raise ConfigError("record_attention needs at least one trial")
    validate_spec(spec, loaded)
    frames = [_record_trial(loaded, t, spec, max_new_tokens) for t in trials]
    df = pl.concat(frames).sort("trial_id", "step", "layer_index", "head")
    if out_path is not None:
        write_parquet(df, Path(out_path))
    return df
