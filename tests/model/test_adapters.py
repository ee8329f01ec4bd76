"""Architecture adapters find the right modules in the real transformers classes."""

from __future__ import annotations

import pytest
from torch import nn

from conftest import make_tiny_model
from hybrid_retrieval.errors import UnknownArchitectureError
from hybrid_retrieval.models.base import ArchitectureAdapter
from hybrid_retrieval.models.jamba import JambaAdapter
from hybrid_retrieval.models.recurrent_gemma import RecurrentGemmaAdapter
from hybrid_retrieval.models.registry import SUPPORTED_MODEL_TYPES, get_adapter


def test_recurrent_gemma_layers() -> None:
    model = make_tiny_model("recurrent_gemma", attention_window_size=5)
    adapter = get_adapter(model)
    assert isinstance(adapter, RecurrentGemmaAdapter)
    layers = adapter.attention_layers(model)
    assert [layer.layer_index for layer in layers] == [1, 2]  # block types recurrent, attention, attention
    for layer in layers:
        assert layer.module is model.model.layers[layer.layer_index].temporal_block
        assert layer.module.layer_idx == layer.layer_index
        assert (layer.num_heads, layer.num_kv_heads, layer.head_dim, layer.window) == (4, 1, 8, 5)
        assert layer.o_proj is layer.module.o_proj
        assert layer.o_proj.in_features == layer.num_heads * layer.head_dim
        assert layer.o_proj.bias is not None
    mixers = adapter.mixer_layers(model)
    assert [mixer.layer_index for mixer in mixers] == [0]
    assert mixers[0].module is model.model.layers[0].temporal_block


def test_jamba_layers() -> None:
    model = make_tiny_model("jamba")
    adapter = get_adapter(model.config)
    assert isinstance(adapter, JambaAdapter)
    layers = adapter.attention_layers(model)
    assert [layer.layer_index for layer in layers] == [1, 3]
    for layer in layers:
        assert layer.module is model.model.layers[layer.layer_index].self_attn
        assert layer.module.layer_idx == layer.layer_index
        assert (layer.num_heads, layer.num_kv_heads, layer.head_dim, layer.window) == (4, 2, 8, None)
        assert layer.o_proj.in_features == 32 and layer.o_proj.bias is None
    assert [mixer.layer_index for mixer in adapter.mixer_layers(model)] == [0, 2]
    assert all(m.module is model.model.layers[m.layer_index].mamba for m in adapter.mixer_layers(model))


def test_adapter_works_on_bare_model_too() -> None:
    model = make_tiny_model("jamba")
    layers = get_adapter("jamba").attention_layers(model.model)  # JambaModel, not ForCausalLM
    assert [layer.layer_index for layer in layers] == [1, 3]


def test_registry() -> None:
    assert SUPPORTED_MODEL_TYPES == ("jamba", "recurrent_gemma")
    for model_type in SUPPORTED_MODEL_TYPES:
        adapter = get_adapter(model_type)
        assert adapter.model_type == model_type
        assert isinstance(adapter, ArchitectureAdapter)
    with pytest.raises(UnknownArchitectureError, match=r"'llama'.*jamba, recurrent_gemma"):
        get_adapter("llama")
    with pytest.raises(UnknownArchitectureError, match="supported"):
        get_adapter(nn.Linear(2, 2))
