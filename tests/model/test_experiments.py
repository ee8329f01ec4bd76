"""hybrid_retrieval.jobs.experiments: config settings -> InterventionSpecs, on the tiny real-class models."""

from __future__ import annotations

import polars as pl
import pytest

from hybrid_retrieval.errors import ConfigError
from hybrid_retrieval.jobs.experiments import (
    experiment_specs,
    haystack_sources,
    num_heads,
    prompt_variants,
    resolve_k,
)


def _scores(loaded) -> pl.DataFrame:
    rows = [
        {
            "layer_index": layer.layer_index,
            "head": h,
            "entropy_rank": h,
            "ablation_rank": layer.num_heads - 1 - h,
        }
        for layer in loaded.adapter.attention_layers(loaded.model)
        for h in range(layer.num_heads)
    ]
    return pl.DataFrame(rows)


def test_resolve_k(loaded) -> None:
    assert resolve_k("H", loaded) == num_heads(loaded) == 4
    assert resolve_k(2, loaded) == 2
    with pytest.raises(ConfigError, match="'H'"):
        resolve_k(-1, loaded)


def test_simple_experiments(loaded) -> None:
    [(spec, kinds)] = experiment_specs("baseline", {}, loaded)
    assert spec.kind == "none" and kinds == (False,)
    ablated = experiment_specs("attention_ablated", {"phases": ["generation", "all"]}, loaded)
    assert [(s.k, s.phase) for s, _ in ablated] == [(0, "generation"), (0, "all")]
    jrt = experiment_specs("jrt", {"k": [0, "H"], "phase": "generation"}, loaded)
    assert [s.k for s, _ in jrt] == [0, 4] and all(kinds == (False, True) for _, kinds in jrt)
    exposure = experiment_specs(
        "exposure", {"generation_modes": ["keep", "omit"], "prefill_modes": ["keep", "follow"]}, loaded
    )
    assert [(s.generation_mode, s.prefill_mode) for s, _ in exposure] == [
        ("keep", "keep"), ("keep", "follow"), ("omit", "keep"), ("omit", "follow")
    ]  # fmt: skip


def test_controls_ablate_each_layer_alone(loaded) -> None:
    specs = [
        s
        for s, _ in experiment_specs(
            "controls", {"single_layer": True, "mixer_layers": True, "phase": "all"}, loaded
        )
    ]
    attention = [layer.layer_index for layer in loaded.adapter.attention_layers(loaded.model)]
    mixers = [layer.layer_index for layer in loaded.adapter.mixer_layers(loaded.model)]
    assert [s.layers for s in specs if s.kind == "layer_ablation"] == [(i,) for i in attention]
    assert [s.layers for s in specs if s.kind == "mixer_ablation"] == [(i,) for i in mixers]


def test_sweep_has_controls_strictly_between_0_and_h(loaded) -> None:
    settings = {
        "k": "all",
        "phases": ["generation"],
        "random_k": {"enabled": True, "seeds": [0, 1]},
        "static_heads": {"enabled": True, "rank_by": "entropy_rank"},
    }
    specs = [s for s, _ in experiment_specs("sparsity_sweep", settings, loaded, head_scores=_scores(loaded))]
    assert [s.k for s in specs if s.kind == "entropy_topk"] == [0, 1, 2, 3, 4]
    assert sorted((s.k, s.seed) for s in specs if s.kind == "random_k") == [
        (k, s) for k in (1, 2, 3) for s in (0, 1)
    ]
    static = [s for s in specs if s.kind == "static_heads"]
    layers = len(loaded.adapter.attention_layers(loaded.model))
    assert [len(s.heads) for s in static] == [k * layers for k in (1, 2, 3)]
    assert all(h < 1 for s in static[:1] for _, h in s.heads)  # k = 1 keeps the lowest-entropy head 0
    with pytest.raises(ConfigError, match="head scores"):
        experiment_specs("sparsity_sweep", settings, loaded)
    with pytest.raises(ConfigError, match="unknown retrieval experiment"):
        experiment_specs("nope", {}, loaded)


def test_prompt_variants_and_haystack_sources(tmp_path) -> None:
    model = {"name": "tiny", "dtype": "float32", "chat_template": False, "prefill_boundary": "auto"}
    assert prompt_variants({**model, "chat_template": True}, jrt=True) == "chat_jrt"
    assert prompt_variants(model) == "base"
    with pytest.raises(ConfigError, match="model parameters are invalid .*chat_template: Field required"):
        prompt_variants({"name": "tiny", "dtype": "float32", "prefill_boundary": "auto"})  # no default re-typed
    hay, needles = haystack_sources({"kind": "synthetic", "language_seed": 3, "seed": 1}, None)
    assert hay.haystack_id == "synthetic-3-1" and needles.needle_id == "synthetic-3"
    with pytest.raises(ConfigError, match="needs the essays"):
        haystack_sources({"kind": "paul_graham"}, None)
    with pytest.raises(ConfigError, match="haystack parameters are invalid .*kind: Input should be 'synthetic' or"):
        haystack_sources({"kind": "web"}, None)
    with pytest.raises(ConfigError, match="needs its language_seed"):
        haystack_sources({"kind": "synthetic"}, None)
