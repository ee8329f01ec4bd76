"""Raw attention maps on probe prompts (`experiments.attention_maps`), as the authors saved them.

The authors' NIAH code saved, on two probe prompts (`Huggingface_250_100_prompts.json`,
`Huggingface_4096_0_prompts.json`: 250 tokens / depth 100 and 4096 tokens / depth 0), every attention
layer's post-softmax probabilities for every head (get_attention_weights.py; pred.py `save_attn` inside its
k loop), and their sparsifier's per-step top-k head indices (`get_topk`: the kept heads, ranked).

Here one file per probe, `results/<model>/attention_maps/len<L>_depth<D>.npz`, holds:
- `layer_<i>`: float16 [steps, heads, keys], attention layer i's softmax of each recorded step's query (the
  query that produces that step's token, as `recording.py` counts steps), before any intervention: each row
  sums to 1 over the keys it saw (a window hides the rest: 0). Keys are absolute token positions
  0 .. prompt + steps - 1.
- `kept_heads`: int16 [steps, layers, heads], the heads the entropy rule kept at each step in rank order
  (lowest entropy first; L2 largest first under `sparsification.head_score: l2`), padded with -1: the
  first k are their top-k indices at k (all heads, ranked, in a phase the rule leaves alone).
- `entropy` float32 and `kept` bool [steps, layers, heads]; `steps`, `layers`, `input_ids`, `needle_span`
  ([start, end) of the needle), `prompt_length`, `k`, `phase`, `context_length`, `depth`, `model`.

`summary_table` bins the maps over key positions for the report's figure (results/tables/attention_maps.parquet).
This module imports no torch at import time: the summary runs in the report environment.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from hybrid_retrieval.errors import ConfigError, DataError
from hybrid_retrieval.filenames import probe_name  # the probe's file stem
from hybrid_retrieval.io import atomic_path, write_parquet
from hybrid_retrieval.rows import ATTENTION_MAPS_SUMMARY_SCHEMA as SUMMARY_SCHEMA

# Key-position bins of the figure's summary (fewer keys: one bin per key).
NUM_KEY_BINS = 32


def probe_files(model: str, probes: Iterable[Mapping[str, Any]]) -> list[str]:
    """The npz files of a model's probes, in config order (the rule's outputs)."""
    return [
        f"results/{model}/attention_maps/{probe_name(p['context_length'], p['depth'])}.npz" for p in probes
    ]


def kept_head_order(kept: np.ndarray, score: np.ndarray) -> np.ndarray:
    """int16 [..., heads]: the kept heads of each row ordered by `score` (lowest first; ties to the lower
    head index), then -1 for every head not kept."""
    order = np.argsort(np.where(kept, score, np.inf), axis=-1, kind="stable")
    return np.where(np.take_along_axis(kept, order, axis=-1), order, -1).astype(np.int16)


def maps_arrays(
    rows: pl.DataFrame,
    maps: Sequence[tuple[int, int, np.ndarray, np.ndarray]],
    *,
    head_score: str = "entropy",
) -> dict[str, np.ndarray]:
    """The npz arrays (see the module doc) from `recording.record_with_maps`' rows and maps."""
    if not maps:
        raise DataError("no attention maps were recorded (the model ran no attention layer)")
    steps = np.array(sorted({m[0] for m in maps}), dtype=np.int32)
    layers = np.array(sorted({m[1] for m in maps}), dtype=np.int32)
    num_heads = maps[0][2].shape[0]
    num_keys = int(max(m[3].max() for m in maps)) + 1
    step_at = {int(s): i for i, s in enumerate(steps)}
    layer_at = {int(layer): i for i, layer in enumerate(layers)}
    probs = np.zeros((len(layers), len(steps), num_heads, num_keys), dtype=np.float32)
    for step, layer, p, positions in maps:
        probs[layer_at[layer], step_at[step]][:, positions] = p
    shape = (len(steps), len(layers), num_heads)
    if rows.height != int(np.prod(shape)):
        raise DataError(f"recorded {rows.height} head rows for {shape} (steps, layers, heads) maps")
    rows = rows.sort("step", "layer_index", "head")
    entropy = rows["entropy"].to_numpy().reshape(shape).astype(np.float32)
    kept = rows["kept"].to_numpy().reshape(shape).astype(bool)
    if head_score == "l2":  # the rule's L2 of the same float32 softmax rows, largest kept
        score = -np.linalg.norm(probs, axis=-1).transpose(1, 0, 2)
    elif head_score == "entropy":
        score = entropy
    else:
        raise ConfigError(f"unknown head_score {head_score!r}; use 'entropy' or 'l2'")
    arrays = {f"layer_{layer}": probs[i].astype(np.float16) for i, layer in enumerate(layers)}
    arrays |= {
        "steps": steps,
        "layers": layers,
        "entropy": entropy,
        "kept": kept,
        "kept_heads": kept_head_order(kept, score),
    }
    return arrays


def write_npz(arrays: Mapping[str, np.ndarray], path: str | os.PathLike[str]) -> Path:
    """Compressed npz, written atomically (numpy adds no suffix to an open file)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    return Path(path)


def read_maps(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Every array of a probe's npz file."""
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def run_attention_maps(
    model_dir: str | os.PathLike[str],
    *,
    model: Mapping[str, Any],
    grid: Mapping[str, Any],
    haystack: Mapping[str, Any],
    settings: Mapping[str, Any],
    out_paths: Sequence[str | os.PathLike[str]],
    haystack_dir: str | os.PathLike[str] | None = None,
    device: str = "cpu",
    threads: int = 1,
) -> list[Path]:
    """Record each probe of `settings["probes"]` (one needle-test prompt of the grid's kind at that length
    and depth) under entropy top-k at `settings["k"]` in `settings["phase"]`, decoding `max_new_tokens`
    steps (None = the grid's), and write its npz to the matching `out_paths` entry."""
    from hybrid_retrieval.config import as_grid, as_model_params, as_settings
    from hybrid_retrieval.generation.decoding import resolve_prefill_boundary
    from hybrid_retrieval.interventions import InterventionSpec
    from hybrid_retrieval.jobs.canary import canary_phases, check_interventions
    from hybrid_retrieval.jobs.experiments import grid_trials, load, prompt_variants, resolve_k
    from hybrid_retrieval.jobs.recording import record_with_maps

    model, grid = as_model_params(model), as_grid(grid)
    s = as_settings("attention_maps", settings)
    probes = [p.model_dump() for p in s.probes]
    if len(out_paths) != len(probes):
        raise ConfigError(f"{len(probes)} probes need {len(probes)} output paths, got {len(out_paths)}")
    steps = s.max_new_tokens or grid.max_new_tokens
    loaded = load(model_dir, model, device=device, threads=threads)
    k = resolve_k(s.k, loaded)
    spec = InterventionSpec(kind="entropy_topk", k=k, phase=s.phase, head_score=s.head_score)
    boundary = resolve_prefill_boundary(model.prefill_boundary, loaded)
    trials = []
    for probe in probes:  # every prompt first: a probe the haystack cannot hold fails before any decoding
        cell = {**grid.model_dump(), "context_lengths": [probe["context_length"]], "depths": [probe["depth"]]}
        built = grid_trials(loaded, {**cell, "trials_per_cell": 1}, haystack, prompt_variants(model), haystack_dir=haystack_dir)
        if not built:
            raise DataError(f"no prompt could be built for probe {probe_name(**probe)}")
        trials.append(built[0])
    shortest = min(trials, key=lambda t: len(t.input_ids))
    check_interventions(loaded, shortest.input_ids, canary_phases([spec]), boundary)  # before any file
    written = []
    for probe, trial, out_path in zip(probes, trials, out_paths, strict=True):
        rows, maps = record_with_maps(loaded, trial, spec, max_new_tokens=steps, prefill_boundary=boundary)
        arrays = maps_arrays(rows, maps, head_score=spec.head_score)
        (start, end), *_ = trial.needle_spans
        arrays |= {
            "input_ids": np.asarray(trial.input_ids, dtype=np.int64),
            "needle_span": np.array([start, end], dtype=np.int64),
            "prompt_length": np.array(len(trial.input_ids)),
            "k": np.array(k),
            "phase": np.array(spec.phase),
            "context_length": np.array(int(probe["context_length"])),
            "depth": np.array(float(probe["depth"])),
            "model": np.array(loaded.name),
            "prefill_boundary": np.array(boundary),
        }
        written.append(write_npz(arrays, out_path))
    return written


def _bin_edges(num_keys: int) -> np.ndarray:
    return np.unique(np.linspace(0, num_keys, min(NUM_KEY_BINS, num_keys) + 1).round().astype(np.int64))


def summary_table(paths: Iterable[str | os.PathLike[str]]) -> pl.DataFrame:
    """Per model x probe x attention layer x head x key bin: the attention mass in the bin averaged over
    the recorded steps, and the share of steps the head was kept (the figure's data)."""
    frames = []
    for path in paths:
        data = read_maps(path)
        edges = _bin_edges(int(data["layer_" + str(data["layers"][0])].shape[-1]))
        kept_rate = data["kept"].mean(axis=0)  # [layers, heads]
        for i, layer in enumerate(data["layers"]):
            probs = data[f"layer_{layer}"].astype(np.float32)  # [steps, heads, keys]
            mass = np.add.reduceat(probs, edges[:-1], axis=-1).mean(axis=0)  # [heads, bins]
            heads, bins = mass.shape
            frames.append(
                pl.DataFrame(
                    {
                        "model": str(data["model"]),
                        "probe": probe_name(int(data["context_length"]), float(data["depth"])),
                        "context_length": int(data["context_length"]),
                        "depth": float(data["depth"]),
                        "prompt_length": int(data["prompt_length"]),
                        "k": int(data["k"]),
                        "steps": len(data["steps"]),
                        "layer_index": int(layer),
                        "head": np.repeat(np.arange(heads), bins),
                        "key_start": np.tile(edges[:-1], heads),
                        "key_end": np.tile(edges[1:], heads),
                        "mass": mass.reshape(-1),
                        "kept_rate": np.repeat(kept_rate[i], bins),
                        "needle_start": int(data["needle_span"][0]),
                        "needle_end": int(data["needle_span"][1]),
                    }
                ).cast(SUMMARY_SCHEMA)
            )
    if not frames:
        return pl.DataFrame(schema=SUMMARY_SCHEMA)
    return pl.concat(frames).sort("model", "context_length", "depth", "layer_index", "head", "key_start")


def write_summary(paths: Iterable[str | os.PathLike[str]], out_path: str | os.PathLike[str]) -> Path:
    return write_parquet(summary_table(paths), out_path)
