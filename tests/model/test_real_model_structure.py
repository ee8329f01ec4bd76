"""The three paper models at full size, built on the meta device (no weights, no download), give the
published layout through our adapters. The configs are the models' published config.json values
(https://huggingface.co/google/recurrentgemma-2b/blob/main/config.json,
https://huggingface.co/google/recurrentgemma-9b/blob/main/config.json,
https://huggingface.co/ai21labs/AI21-Jamba-Mini-1.6/blob/main/config.json), written out here because the
hub is out of reach in tests; the parameter counts are the published sizes (RecurrentGemma-2B 2.68B,
Jamba-Mini-1.6 51.6B total / 12B active)."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, JambaConfig, RecurrentGemmaConfig

from hybrid_retrieval.models.registry import get_adapter

RG_COMMON = {
    "attention_bias": False,
    "attention_window_size": 2048,
    "block_types": ["recurrent", "recurrent", "attention"],
    "conv1d_width": 4,
    "hidden_activation": "gelu_pytorch_tanh",
    "logits_soft_cap": 30.0,
    "num_key_value_heads": 1,
    "partial_rotary_factor": 0.5,
    "rms_norm_eps": 1e-06,
    "vocab_size": 256000,
    "w_init_variance_scale": 0.01,
    "tie_word_embeddings": True,
}
CONFIGS = {
    "recurrentgemma-2b": lambda: RecurrentGemmaConfig(
        **RG_COMMON,
        hidden_size=2560,
        intermediate_size=15360,
        lru_width=2560,
        num_attention_heads=10,
        num_hidden_layers=26,
    ),
    "recurrentgemma-9b": lambda: RecurrentGemmaConfig(
        **RG_COMMON,
        hidden_size=4096,
        intermediate_size=24576,
        lru_width=4096,
        num_attention_heads=16,
        num_hidden_layers=38,
    ),
    "jamba-mini-1.6": lambda: JambaConfig(
        vocab_size=65536,
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        num_experts=16,
        num_experts_per_tok=2,
        expert_layer_period=2,
        expert_layer_offset=1,
        attn_layer_period=8,
        attn_layer_offset=4,
        mamba_d_state=16,
        mamba_d_conv=4,
        mamba_expand=2,
        mamba_dt_rank=256,
        mamba_conv_bias=True,
        mamba_proj_bias=False,
        tie_word_embeddings=False,
        max_position_embeddings=262144,
    ),
}


def _meta(name: str):
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(CONFIGS[name]())


@pytest.mark.parametrize(
    ("name", "layers", "heads", "kv_heads", "head_dim", "window", "billions", "digits"),
    [
        ("recurrentgemma-2b", list(range(2, 26, 3)), 10, 1, 256, 2048, 2.68, 2),
        ("recurrentgemma-9b", list(range(2, 38, 3)), 16, 1, 256, 2048, 8.58, 2),
        ("jamba-mini-1.6", [4, 12, 20, 28], 32, 8, 128, None, 51.6, 1),
    ],
)
def test_full_size_layout_through_the_adapters(
    name: str,
    layers: list[int],
    heads: int,
    kv_heads: int,
    head_dim: int,
    window,
    billions: float,
    digits: int,
) -> None:
    model = _meta(name)
    adapter = get_adapter(model)
    attention = adapter.attention_layers(model)
    assert [a.layer_index for a in attention] == layers
    assert {(a.num_heads, a.num_kv_heads, a.head_dim, a.window) for a in attention} == {
        (heads, kv_heads, head_dim, window)
    }
    assert {a.o_proj.in_features for a in attention} == {heads * head_dim}
    mixers = adapter.mixer_layers(model)
    assert len(mixers) + len(attention) == model.config.num_hidden_layers
    params = sum(p.numel() for p in model.parameters())
    assert round(params / 1e9, digits) == billions
