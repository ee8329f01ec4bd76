"""Raw attention maps (`attention_maps.py`, `recording.record_with_maps`) on the tiny models of conftest."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch
from test_evaluate import tiny_trials

from hybrid_retrieval.errors import ConfigError
from hybrid_retrieval.interventions import InterventionSpec
from hybrid_retrieval.jobs.attention_maps import (
    kept_head_order,
    maps_arrays,
    read_maps,
    summary_table,
    write_npz,
)
from hybrid_retrieval.jobs.recording import record_attention, record_with_maps

STEPS = 4
BOUNDARY = {"recurrent_gemma": "last_token_as_generation", "jamba": "whole_prompt"}  # the authors'


def _trial(loaded):
    return tiny_trials(loaded.tokenizer, lengths=(48,), depths=(50,))[0]


@pytest.fixture
def recorded(loaded, tiny_arch):
    trial = _trial(loaded)
    spec = InterventionSpec(kind="entropy_topk", k=1, phase="generation")
    rows, maps = record_with_maps(
        loaded, trial, spec, max_new_tokens=STEPS, prefill_boundary=BOUNDARY[tiny_arch]
    )
    return trial, spec, rows, maps


def test_maps_are_distributions_over_the_keys_each_step_saw(loaded, tiny_arch, recorded) -> None:
    trial, _, _, maps = recorded
    layers = [layer.layer_index for layer in loaded.adapter.attention_layers(loaded.model)]
    heads = loaded.adapter.attention_layers(loaded.model)[0].num_heads
    assert sorted({m[0] for m in maps}) == list(range(STEPS))
    assert sorted({m[1] for m in maps}) == layers
    for step, _, probs, positions in maps:
        assert probs.shape == (heads, len(positions))
        np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=1e-5)  # every head, kept or not
        # the step's query is the last position it sees: prompt (+ tokens generated before it)
        assert positions.max() == len(trial.input_ids) - 1 + step
    arrays = maps_arrays(*recorded[2:])
    num_keys = len(trial.input_ids) + STEPS - 1
    for layer in layers:
        full = arrays[f"layer_{layer}"]
        assert full.dtype == np.float16 and full.shape == (STEPS, heads, num_keys)
        np.testing.assert_allclose(full.astype(np.float32).sum(axis=-1), 1.0, atol=2e-3)
        # causality: no mass on keys after a step's own position
        for step in range(STEPS):
            assert not full[step, :, len(trial.input_ids) + step :].any()
    if tiny_arch == "recurrent_gemma":  # window 16: the keys it no longer sees hold nothing
        window = loaded.model.config.attention_window_size
        last = len(trial.input_ids) - 1
        assert not arrays[f"layer_{layers[0]}"][0, :, : last - window].any()


def test_maps_equal_the_unmodified_softmax(loaded) -> None:
    """Step 0 of the whole-prompt decode is the prefill's last query: its maps are eager attention's
    probabilities of the untouched model. An intervention changes later layers' inputs, never the map of
    the layer it acts in: the first attention layer's map stays the untouched one under top-k (k = 1 in
    every position) and under needle exposure (the needle hidden from every query); k = H leaves all."""
    trial = _trial(loaded)
    with torch.no_grad():
        out = loaded.model(torch.tensor([trial.input_ids]), output_attentions=True, use_cache=False)
    layers = [layer.layer_index for layer in loaded.adapter.attention_layers(loaded.model)]
    heads = loaded.adapter.attention_layers(loaded.model)[0].num_heads
    # transformers lists the weights of every decoder layer (Jamba: None for Mamba) or of attention ones only
    weights = [a for a in out.attentions if a is not None]
    assert len(weights) == len(layers)
    reference = {layer: w[0, :, -1].float().numpy() for layer, w in zip(layers, weights, strict=True)}
    cases = [
        (InterventionSpec(kind="entropy_topk", k=heads, phase="all"), layers),
        (InterventionSpec(kind="entropy_topk", k=1, phase="all"), layers[:1]),
        (InterventionSpec(kind="none", generation_mode="omit", prefill_mode="omit"), layers[:1]),
    ]
    for spec, compared in cases:
        _, maps = record_with_maps(loaded, trial, spec, max_new_tokens=1, prefill_boundary="whole_prompt")
        by_layer = {m[1]: m for m in maps if m[0] == 0}
        for layer in compared:
            _, _, probs, positions = by_layer[layer]
            np.testing.assert_allclose(probs, reference[layer][:, positions], atol=1e-6)
    # and the intervention did act: under k = 1 the last layer's map is not the untouched one
    _, maps = record_with_maps(
        loaded, trial, InterventionSpec(kind="entropy_topk", k=1, phase="all"), max_new_tokens=1,
        prefill_boundary="whole_prompt",
    )  # fmt: skip
    last = next(m for m in maps if m[0] == 0 and m[1] == layers[-1])
    assert not np.allclose(last[2], reference[layers[-1]][:, last[3]], atol=1e-3)


def test_decoding_maps_sit_at_the_keys_a_fresh_forward_sees(loaded, tiny_arch) -> None:
    """Each decoding step's map, placed at absolute key positions (RecurrentGemma: a window of 16 over a
    43-token prompt, its cache rolled), equals the last row of a fresh eager forward over the prompt and the
    tokens generated before that step."""
    from hybrid_retrieval.generation.decoding import decode, prefill

    trial = _trial(loaded)
    spec = InterventionSpec(kind="entropy_topk", k=loaded.adapter.attention_layers(loaded.model)[0].num_heads)
    _, maps = record_with_maps(loaded, trial, spec, max_new_tokens=STEPS, prefill_boundary="whole_prompt")
    with torch.no_grad():
        tokens = decode(loaded, prefill(loaded, torch.tensor([trial.input_ids]), "whole_prompt"), STEPS)[0]
    layers = [layer.layer_index for layer in loaded.adapter.attention_layers(loaded.model)]
    checked = 0
    for step in range(1, min(STEPS, len(tokens))):
        with torch.no_grad():
            out = loaded.model(torch.tensor([trial.input_ids + tokens[:step]]), output_attentions=True, use_cache=False)
        weights = [a for a in out.attentions if a is not None]
        for layer, w in zip(layers, weights, strict=True):
            _, _, probs, positions = next(m for m in maps if m[0] == step and m[1] == layer)
            assert positions.max() == len(trial.input_ids) - 1 + step
            np.testing.assert_allclose(probs, w[0, :, -1].float().numpy()[:, positions], atol=1e-5)
            checked += 1
    assert checked >= len(layers)


def test_kept_heads_are_the_entropy_top_k(loaded, tiny_arch, recorded) -> None:
    trial, spec, rows, maps = recorded
    arrays = maps_arrays(rows, maps)
    kept_heads, entropy, kept = arrays["kept_heads"], arrays["entropy"], arrays["kept"]
    steps, layers, heads = kept_heads.shape
    assert entropy.shape == kept.shape == (steps, layers, heads) and kept_heads.dtype == np.int16
    # the same decode through record_attention: the rule kept the same heads
    again = record_attention(
        loaded, [trial], spec, max_new_tokens=STEPS, out_path=None, prefill_boundary=BOUNDARY[tiny_arch]
    )
    np.testing.assert_array_equal(again["kept"].to_numpy().reshape(kept.shape), kept)
    order = np.argsort(entropy, axis=-1, kind="stable")  # the entropy ranking, lowest first
    for s in range(steps):
        prefill = BOUNDARY[tiny_arch] == "whole_prompt" and s == 0  # phase generation leaves it alone
        n = heads if prefill else spec.k
        for layer in range(layers):
            assert kept[s, layer].sum() == n
            assert list(kept_heads[s, layer, :n]) == list(order[s, layer, :n])  # the top-k at k
            assert (kept_heads[s, layer, n:] == -1).all()


def test_kept_head_order_ties_and_padding() -> None:
    kept = np.array([[True, False, True, True]])
    score = np.array([[0.5, 0.0, 0.5, 0.1]])
    assert kept_head_order(kept, score).tolist() == [[3, 0, 2, -1]]  # tie 0.5: lower head first


def test_npz_round_trip_and_summary(recorded, tmp_path) -> None:
    trial, _, rows, maps = recorded
    arrays = maps_arrays(rows, maps) | {
        "input_ids": np.asarray(trial.input_ids),
        "needle_span": np.asarray(trial.needle_spans[0]),
        "prompt_length": np.array(len(trial.input_ids)),
        "k": np.array(1),
        "context_length": np.array(48),
        "depth": np.array(50.0),
        "model": np.array("tiny"),
    }
    path = write_npz(arrays, tmp_path / "len48_depth50.npz")
    back = read_maps(path)
    assert set(back) == set(arrays)
    for name, value in arrays.items():
        np.testing.assert_array_equal(back[name], value)
    table = summary_table([path])
    layers, heads = arrays["kept"].shape[1:]
    per_head = table.group_by("layer_index", "head").agg(pl.col("mass").sum(), pl.len())
    assert per_head.height == layers * heads
    np.testing.assert_allclose(per_head["mass"].to_numpy(), 1.0, atol=2e-3)  # binning keeps the mass
    assert table["probe"].unique().to_list() == ["len48_depth50"]
    assert table["kept_rate"].is_between(0, 1).all()


def test_unknown_head_score_is_refused(recorded) -> None:
    with pytest.raises(ConfigError, match="head_score"):
        maps_arrays(*recorded[2:], head_score="l3")
