"""RecurrentGemma (Griffin): residual blocks whose `temporal_block` is either local attention or RG-LRU."""

from __future__ import annotations

from torch import nn
from transformers.models.recurrent_gemma.modeling_recurrent_gemma import (
    RecurrentGemmaAttention,
    RecurrentGemmaRecurrentBlock,
)

from hybrid_retrieval.models.base import AttentionLayer, MixerLayer, decoder_layers


class RecurrentGemmaAdapter:
    model_type = "recurrent_gemma"

    def attention_layers(self, model: nn.Module) -> list[AttentionLayer]:
        found = []
        for index, layer in enumerate(decoder_layers(model)):
            block = layer.temporal_block
            if isinstance(block, RecurrentGemmaAttention):
                found.append(
                    AttentionLayer(
                        layer_index=index,
                        module=block,
                        o_proj=block.o_proj,  # has a bias: zeroing all heads still adds it
                        num_heads=block.num_attention_heads,
                        num_kv_heads=block.num_key_value_heads,
                        head_dim=block.head_dim,
                        # every attention block is local: a query sees itself and window - 1 earlier tokens
                        window=int(block.config.attention_window_size),
                    )
                )
        return found

    def mixer_layers(self, model: nn.Module) -> list[MixerLayer]:
        return [
            MixerLayer(layer_index=index, module=layer.temporal_block)
            for index, layer in enumerate(decoder_layers(model))
            if isinstance(layer.temporal_block, RecurrentGemmaRecurrentBlock)
        ]
