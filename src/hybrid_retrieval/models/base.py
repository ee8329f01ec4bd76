"""The one interface every architecture family implements: where the attention heads and mixers are.

An adapter is declarative: it only *finds* modules in a loaded transformers model. Interventions use
what it returns (attention modules, their `o_proj`, head counts, windows; SSM/recurrent mixers) and
never look at model classes themselves, so adding a family (Zamba2, Bamba, ...) means adding one
small adapter file and one registry entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from torch import nn


@dataclass(frozen=True)
class AttentionLayer:
    """One attention block and the facts interventions need about its heads."""

    layer_index: int  # index of the decoder layer in the model's layer list (== module.layer_idx)
    module: nn.Module  # the attention module (has .layer_idx; calls the attention interface)
    o_proj: nn.Linear  # input = concatenated head outputs [..., num_heads * head_dim]
    num_heads: int
    num_kv_heads: int
    head_dim: int
    window: int | None  # local attention window in tokens (RecurrentGemma); None = global attention


@dataclass(frozen=True)
class MixerLayer:
    """One SSM / linear-recurrence block: zeroing this module's output ablates its sequence mixing."""

    layer_index: int
    module: nn.Module


@runtime_checkable
class ArchitectureAdapter(Protocol):
    """Finds attention and mixer layers in a model of one family (`model.config.model_type`)."""

    model_type: str

    def attention_layers(self, model: nn.Module) -> list[AttentionLayer]: ...

    def mixer_layers(self, model: nn.Module) -> list[MixerLayer]: ...


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder layer list of a `*ForCausalLM` or bare `*Model` (both expose `.base_model`)."""
    base = getattr(model, "base_model", model)
    layers = getattr(base, "layers", None)
    if not isinstance(layers, nn.ModuleList):
        raise TypeError(f"{type(model).__name__} has no decoder layer list at `.base_model.layers`")
    return layers
