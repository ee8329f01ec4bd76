"""Jamba: decoder layers are either attention (`self_attn`, global) or Mamba (`mamba`), each with an FFN/MoE."""

from __future__ import annotations

from torch import nn
from transformers.models.jamba.modeling_jamba import (
    JambaAttentionDecoderLayer,
    JambaMambaDecoderLayer,
)

from hybrid_retrieval.models.base import AttentionLayer, MixerLayer, decoder_layers


class JambaAdapter:
    model_type = "jamba"

    def attention_layers(self, model: nn.Module) -> list[AttentionLayer]:
        found = []
        for index, layer in enumerate(decoder_layers(model)):
            if isinstance(layer, JambaAttentionDecoderLayer):
                attn = layer.self_attn
                config = attn.config
                found.append(
                    AttentionLayer(
                        layer_index=index,
                        module=attn,
                        o_proj=attn.o_proj,  # no bias
                        num_heads=int(config.num_attention_heads),
                        num_kv_heads=int(config.num_key_value_heads),
                        head_dim=int(attn.head_dim),
                        window=None,  # Jamba's attention is global (create_causal_mask)
                    )
                )
        return found

    def mixer_layers(self, model: nn.Module) -> list[MixerLayer]:
        return [
            MixerLayer(layer_index=index, module=layer.mamba)
            for index, layer in enumerate(decoder_layers(model))
            if isinstance(layer, JambaMambaDecoderLayer)
        ]
