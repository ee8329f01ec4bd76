"""The attention function the interventions run in, and the registry of active controllers.

transformers 5.x attention modules (RecurrentGemmaAttention, JambaAttention, ...) call
`ALL_ATTENTION_FUNCTIONS.get_interface(config._attn_implementation, ...)`. This module registers one
attention function under `ATTENTION_IMPLEMENTATION` (and transformers' eager mask builder for it);
`apply_intervention` switches the model to it, so no model code is patched. The function looks up the
`Controller` of the calling module and computes eager attention exactly as transformers'
`eager_attention_forward`, in query chunks that bound memory, composing per chunk: the needle exposure
(`exposure`), the kept heads (`head_selection`) in the call's phase (`phases`), and the recorder (entropy,
kept heads and needle mass of the unmodified softmax; for a recorder with `wants_probabilities`, also
that softmax's last query row per head with the keys' absolute positions: the raw attention maps).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from transformers import AttentionInterface
from transformers.masking_utils import AttentionMaskInterface, eager_mask

from hybrid_retrieval.errors import InterventionError
from hybrid_retrieval.interventions.exposure import (
    apply_exposure,
    authors_exposure,
    authors_needle_sum,
    key_positions,
    needle_key_mask,
    visible_keys,
)
from hybrid_retrieval.interventions.head_selection import HeadSelector, attention_entropy, attention_l2
from hybrid_retrieval.interventions.phases import PhaseTracker
from hybrid_retrieval.interventions.spec import HEAD_KINDS, InterventionSpec, NeedleSpans, Recorder

if TYPE_CHECKING:
    from hybrid_retrieval.models.base import AttentionLayer

ATTENTION_IMPLEMENTATION = "hybrid_retrieval_intervention"


def _score_elements_per_chunk() -> int:
    """The package's `_SCORE_ELEMENTS_PER_CHUNK` (batch * heads * query chunk * keys), read at each call:
    the one knob, which tests shrink to force chunking."""
    return sys.modules[__package__]._SCORE_ELEMENTS_PER_CHUNK


def _repeat_kv(states: torch.Tensor, groups: int) -> torch.Tensor:
    # [b, kv_heads, n, d] -> [b, kv_heads * groups, n, d], as transformers' repeat_kv
    if groups == 1:
        return states
    b, kv_heads, n, d = states.shape
    return states[:, :, None].expand(b, kv_heads, groups, n, d).reshape(b, kv_heads * groups, n, d)


def _probability_chunks(
    query: torch.Tensor,
    key_states: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    chunk: int,
) -> Iterator[tuple[int, int, torch.Tensor | None, torch.Tensor]]:
    """(start, stop, chunk mask, float32 softmax [b, h, stop - start, kv_len]) per query chunk: eager
    attention exactly as transformers' eager_attention_forward, a chunk of queries at a time."""
    query_len, kv_len = query.shape[2], key_states.shape[2]
    for start in range(0, query_len, chunk):
        stop = min(start + chunk, query_len)
        scores = torch.matmul(query[:, :, start:stop], key_states.transpose(2, 3)) * scaling
        chunk_mask = None if attention_mask is None else attention_mask[:, :, start:stop, :kv_len]
        if chunk_mask is not None:
            scores = scores + chunk_mask
        yield start, stop, chunk_mask, nn.functional.softmax(scores, dim=-1, dtype=torch.float32)


class Controller(PhaseTracker):
    """One per active `apply_intervention`: its phase hooks, head selection and the attention it computes."""

    def __init__(
        self,
        spec: InterventionSpec,
        layers: list[AttentionLayer],
        needle_spans: NeedleSpans | None,
        recorder: Recorder | None,
    ) -> None:
        super().__init__(spec, [layer.layer_index for layer in layers])
        self.layers = {id(layer.module): layer for layer in layers}
        self.needle_spans = needle_spans
        self.recorder = recorder
        self.heads = HeadSelector(spec, layers)

    def attention(
        self,
        module: nn.Module,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        attention_mask: torch.Tensor | None,
        scaling: float,
        dropout: float = 0.0,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        layer = self.layers[id(module)]
        spec = self.spec
        batch, num_heads, query_len, _ = query.shape
        kv_len = key.shape[2]
        phase = self.call_phase(query_len)
        masking = spec.kind in HEAD_KINDS and self.heads_apply(phase)
        mode = spec.generation_mode if phase == "generation" else spec.effective_prefill_mode

        groups = layer.num_heads // layer.num_kv_heads
        if num_heads != layer.num_heads or key.shape[1] * groups != num_heads:
            # a wrong adapter would broadcast silently (one KV head against many query heads)
            raise InterventionError(
                f"{type(module).__name__} (layer {layer.layer_index}) computes {num_heads} query and "
                f"{key.shape[1]} KV heads, but its adapter reports {layer.num_heads} and {layer.num_kv_heads}"
            )
        key_states = _repeat_kv(key, groups)
        value_states = _repeat_kv(value, groups)

        assert self.past is not None
        query_positions = torch.arange(self.past, self.past + query_len, device=query.device)
        needle = None
        if self.needle_spans is not None:
            if len(self.needle_spans) != batch:
                raise InterventionError(
                    f"needle_spans has {len(self.needle_spans)} rows but the batch has {batch}; "
                    "pass one list of spans per batch row"
                )
            positions = key_positions(self.past, query_len, kv_len, device=query.device)
            needle = needle_key_mask(self.needle_spans, positions)

        need_entropy = (masking and spec.kind == "entropy_topk") or self.recorder is not None
        # a recorder that asks for the raw maps (attention_maps) gets the unmodified softmax of the last query
        want_maps = self.recorder is not None and getattr(self.recorder, "wants_probabilities", False)
        last_probs = None
        chunk = max(1, _score_elements_per_chunk() // max(1, batch * num_heads * kv_len))
        authors = spec.exposure_rule == "authors"
        if mode != "keep" and needle is None:
            raise InterventionError(f"exposure mode {mode!r} needs needle_spans")
        needle_sum = None
        if authors and mode == "balanced":
            # their scalar sums over every query of the call: a first pass over the query chunks
            assert needle is not None
            chunks = _probability_chunks(query, key_states, attention_mask, scaling, chunk)
            needle_sum = authors_needle_sum((probs32 for *_, probs32 in chunks), needle, batch, query.device)
        outputs, weights, entropies, kepts, masses = [], [], [], [], []
        for start, stop, chunk_mask, probs32 in _probability_chunks(
            query, key_states, attention_mask, scaling, chunk
        ):
            entropy = attention_entropy(probs32) if need_entropy else None
            # the rule's ranking score (lowest kept): entropy, or the negated L2 norm (largest kept)
            rank = entropy
            if masking and spec.kind == "entropy_topk" and spec.head_score == "l2":
                rank = -attention_l2(probs32)
            if self.recorder is not None and needle is not None:
                # mass on the needle of the unmodified distribution: [b, h, q_chunk]
                masses.append(probs32.masked_fill(~needle[:, None, None, :], 0.0).sum(dim=-1))
            if want_maps and stop == query_len:
                last_probs = probs32[:, :, -1].clone()  # [b, h, kv_len], before any exposure
            if mode != "keep":
                assert needle is not None
                if authors:
                    if needle_sum is None:
                        needle_sum = torch.zeros(batch, dtype=torch.float32, device=query.device)
                    # they filter needle keys by the window only at single-token steps (prefill: all)
                    seen = visible_keys(chunk_mask) if query_len == 1 else None
                    probs32 = authors_exposure(probs32, needle, mode, seen, needle_sum)
                else:
                    probs32 = apply_exposure(probs32, needle, mode, visible_keys(chunk_mask))
            probs = probs32.to(query.dtype)
            probs = nn.functional.dropout(probs, p=dropout, training=module.training)
            out = torch.matmul(probs, value_states)  # [b, h, q_chunk, d]
            kept = None
            if masking:
                shape = (batch, num_heads, stop - start)
                kept = self.heads.head_mask(layer, rank, query_positions[start:stop], shape)
                if kept is not None:
                    out = out * kept[..., None].to(out.dtype)
            outputs.append(out)
            weights.append(probs)
            if self.recorder is not None:
                assert entropy is not None
                entropies.append(entropy)
                kepts.append(torch.ones_like(entropy, dtype=torch.bool) if kept is None else kept)
        if self.recorder is not None:
            maps = {}
            if want_maps:
                positions = key_positions(self.past, query_len, kv_len, device=query.device)
                maps = {"probabilities": last_probs, "key_positions": positions}
            self.recorder(
                layer.layer_index,
                phase,
                torch.cat(entropies, dim=-1),
                torch.cat(kepts, dim=-1),
                torch.cat(masses, dim=-1) if masses else None,
                **maps,
            )
        attn_output = torch.cat(outputs, dim=2).transpose(1, 2).contiguous()
        # Full weights only when they were computed in one piece (output_attentions on short inputs).
        attn_weights = weights[0] if len(weights) == 1 else None
        return attn_output, attn_weights


# The attention module (by id) -> the controller of the intervention active on it.
CONTROLLERS: dict[int, Controller] = {}


def _intervened_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    controller = CONTROLLERS.get(id(module))
    if controller is None:
        raise InterventionError(
            f"{type(module).__name__} (layer {getattr(module, 'layer_idx', '?')}) uses the "
            f"{ATTENTION_IMPLEMENTATION!r} attention outside apply_intervention; reload the model or "
            "set its attention implementation back with model.set_attn_implementation('eager')"
        )
    if scaling is None:
        scaling = query.shape[-1] ** -0.5
    # kwargs (sliding_window, use_cache, ...) need no handling: the window is already in the mask.
    return controller.attention(module, query, key, value, attention_mask, scaling, dropout)


AttentionInterface.register(ATTENTION_IMPLEMENTATION, _intervened_attention)
# Without a registered mask function transformers builds no mask at all for a custom implementation.
AttentionMaskInterface.register(ATTENTION_IMPLEMENTATION, eager_mask)


def set_attention_implementation(model: nn.Module, layers: list[AttentionLayer], name: str) -> None:
    """Switch the model's attention to `name`; refuse a model whose attention layers do not follow."""
    model.set_attn_implementation(name)
    wrong = [layer.layer_index for layer in layers if layer.module.config._attn_implementation != name]
    if wrong:
        raise InterventionError(
            f"could not switch attention layers {wrong} of {type(model).__name__} to {name!r}; this "
            "model class does not dispatch attention through transformers' AttentionInterface"
        )


@contextmanager
def installed(model: nn.Module, layers: list[AttentionLayer], controller: Any) -> Iterator[None]:
    """Route the model's attention layers through `controller` inside the block (decoder hooks for the
    phase bookkeeping, the registry, the attention implementation) and restore all of it on exit, also
    on error. `controller`: a Controller, or anything with its begin_forward/end_forward/attention."""
    if any(id(layer.module) in CONTROLLERS for layer in layers):
        raise InterventionError("an intervention is already active on this model; nesting is not supported")
    decoder = getattr(model, "base_model", model)
    previous = model.config._attn_implementation
    handles = [
        decoder.register_forward_pre_hook(controller.begin_forward, with_kwargs=True),
        decoder.register_forward_hook(controller.end_forward, with_kwargs=True, always_call=True),
    ]
    try:
        for layer in layers:
            CONTROLLERS[id(layer.module)] = controller
        set_attention_implementation(model, layers, ATTENTION_IMPLEMENTATION)
        yield
    finally:
        for handle in handles:
            handle.remove()
        for layer in layers:
            CONTROLLERS.pop(id(layer.module), None)
        model.set_attn_implementation(previous)
