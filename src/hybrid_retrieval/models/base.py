"""The one interface every architecture family implements: where the attention heads and mixers are.

An adapter is declarative: it only *finds* modules in a loaded transformers model. Interventions use
what it returns (attention modules, their output projection, head counts, windows; SSM/recurrent mixers)
and never look at model classes themselves. Most families are one `FamilyAdapter` (a table row: which
module classes are attention, which are mixers, what the output projection is called) in its own file
under `models/`, registered in `models/registry.py`; a user's own family registers through
`registry.register_adapter` or the `hybrid_retrieval.adapters` entry-point group.

This module imports no torch at import time (nor do the `FamilyAdapter` files), so importing or
registering an adapter never loads torch before a job's numerics are set (`hybrid_retrieval.infra.numerics`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from hybrid_retrieval.errors import UnknownArchitectureError

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class AttentionLayer:
    """One attention block and the facts interventions need about its heads."""

    layer_index: int  # decoder layer index in the model's layer list == the layer's index in the cache
    module: nn.Module  # the attention module (calls transformers' attention interface)
    o_proj: nn.Linear  # input = concatenated head outputs [..., num_heads * head_dim]
    num_heads: int
    num_kv_heads: int  # as the module's own eager attention repeats them: num_heads // num_key_value_groups
    head_dim: int  # per-head width of the values (MLA: v_head_dim)
    window: int | None  # local window in tokens (RecurrentGemma, LFM3 sliding layers); None = global


@dataclass(frozen=True)
class MixerLayer:
    """One SSM / linear-recurrence / convolution block: zeroing its output ablates its sequence mixing."""

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
    from torch import nn

    base = getattr(model, "base_model", model)
    layers = getattr(base, "layers", None)
    if not isinstance(layers, nn.ModuleList):
        raise TypeError(f"{type(model).__name__} has no decoder layer list at `.base_model.layers`")
    return layers


def _only(found: list[tuple[str, nn.Module]], index: int, what: str) -> nn.Module | None:
    if len(found) > 1:
        names = ", ".join(f"{name} ({type(module).__name__})" for name, module in found)
        raise UnknownArchitectureError(
            f"decoder layer {index} holds {len(found)} {what} modules ({names}); an adapter expects at most "
            "one per layer: name the classes more narrowly in the family's adapter"
        )
    return found[0][1] if found else None


@dataclass(frozen=True)
class FamilyAdapter:
    """A family as a table row: in each decoder layer, the module of one of `attention` classes is the
    softmax attention and the module of one of `mixers` classes the SSM / linear / convolution mixer
    (found by class name anywhere inside the layer, so shared blocks and nested decoders need no paths;
    by class, never by attribute name: LFM2's convolutions and OlmoHybrid's Gated DeltaNet reuse the
    attention's projection name). Head facts come from the attention module as its own eager attention
    uses them: `head_dim` = `v_head_dim` (MLA) or `head_dim`, `num_heads` = the output projection's input
    width / `head_dim`, `num_kv_heads` = `num_heads // num_key_value_groups`."""

    family: str  # the name in messages, result rows and docs
    model_types: tuple[str, ...]  # config.model_type values: config.json's and the loaded model's
    attention: tuple[str, ...]  # class names of the softmax attention modules
    mixers: tuple[str, ...]  # class names of the sequence mixers (SSM, Gated DeltaNet, short conv, ...)
    out_projection: str = "o_proj"  # attention module attribute whose input is the concatenated heads
    window_attribute: str | None = None  # attention module attribute holding its local window (None = global)
    note: str = ""  # semantics a reader needs (FalconH1: parallel attention and SSM branches)

    @property
    def model_type(self) -> str:
        return self.model_types[0]

    def _find(self, layer: nn.Module, index: int, classes: tuple[str, ...], what: str) -> nn.Module | None:
        found = [(name, module) for name, module in layer.named_modules() if type(module).__name__ in classes]
        return _only(found, index, what)

    def attention_layers(self, model: nn.Module) -> list[AttentionLayer]:
        layers = []
        for index, layer in enumerate(decoder_layers(model)):
            module = self._find(layer, index, self.attention, "attention")
            if module is not None:
                layers.append(self._heads(index, module))
        return layers

    def mixer_layers(self, model: nn.Module) -> list[MixerLayer]:
        mixers = []
        for index, layer in enumerate(decoder_layers(model)):
            module = self._find(layer, index, self.mixers, "mixer")
            if module is not None:
                mixers.append(MixerLayer(layer_index=index, module=module))
        return mixers

    def _heads(self, index: int, module: nn.Module) -> AttentionLayer:
        o_proj = getattr(module, self.out_projection)
        head_dim = int(getattr(module, "v_head_dim", None) or module.head_dim)
        width = int(o_proj.in_features)
        if width % head_dim:
            raise UnknownArchitectureError(
                f"{type(module).__name__} in layer {index}: {self.out_projection} takes {width} features, not a "
                f"multiple of head_dim {head_dim}; the {self.family} adapter names the wrong projection"
            )
        num_heads = width // head_dim
        groups = int(getattr(module, "num_key_value_groups", 1))
        window = getattr(module, self.window_attribute, None) if self.window_attribute else None
        return AttentionLayer(
            layer_index=index,
            module=module,
            o_proj=o_proj,
            num_heads=num_heads,
            num_kv_heads=num_heads // groups,
            head_dim=head_dim,
            window=None if window is None else int(window),
        )
