"""Which attention call is prefill and which a generation step, and whether the spec acts on it.

A forward pre-hook on the decoder (`model.base_model`) records how many tokens the cache held before the
call (`past`), read from the attention layers' own cache entries (`cache.get_seq_length(layer_index)` of
each, which must agree), not from the cache's reported length: a cache whose layer 0 is not attention, or
that counts tokens its own way (MiniMax's reports 0), would make every decode step look like prefill and a
generation-phase intervention silently do nothing. A forward hook clears it. A call is a *generation
step* when it feeds one token on top of a non-empty cache (`query_len == 1 and past > 0`); everything
else is *prefill*. That holds for
`model.generate` and for a manual greedy loop passing `cache=`/`past_key_values=`; a loop without a cache
(re-feeding the whole sequence) is all prefill. Head masks and mixer ablation act in the spec's `phase`
("generation" steps only, or "all" calls); exposure modes pick `generation_mode` or the prefill mode by
the call's phase.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from hybrid_retrieval.errors import InterventionError
from hybrid_retrieval.interventions.spec import InterventionSpec, Phase


class PhaseTracker:
    """The decoder hooks and the phase of the current call (one per active intervention)."""

    def __init__(self, spec: InterventionSpec, cache_indices: Sequence[int] = ()) -> None:
        self.spec = spec
        # the attention layers' indices in the cache (their decoder layer indices); () = the cache's length
        self.cache_indices = tuple(cache_indices)
        self.past: int | None = None  # tokens in the cache before the current forward

    # hooks on the decoder ---------------------------------------------------------------------------
    def begin_forward(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        self.past = 0 if cache is None else self.cached_tokens(cache)

    def cached_tokens(self, cache: Any) -> int:
        """Tokens cached before this call, as every attention layer's own cache entry holds them."""
        if not self.cache_indices:
            return int(cache.get_seq_length())
        lengths = {}
        for index in self.cache_indices:
            try:
                lengths[index] = int(cache.get_seq_length(index))
            except ValueError as error:  # transformers: that entry is a linear-attention (SSM) layer
                raise InterventionError(
                    f"the cache entry of attention layer {index} holds no attention keys ({error}); the "
                    "model's adapter names a layer that is not attention"
                ) from error
        if len(set(lengths.values())) > 1:
            raise InterventionError(
                f"the attention layers' cache entries disagree on the cached tokens ({lengths}); the phase of "
                "this call cannot be told, so no intervention runs on it"
            )
        return lengths[self.cache_indices[0]]

    def end_forward(self, module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        self.past = None

    def call_phase(self, query_len: int) -> Phase:
        if self.past is None:
            raise InterventionError(
                "an attention layer ran outside a forward of the model's decoder (model.base_model); "
                "call the whole model inside apply_intervention, not a single layer"
            )
        return "generation" if query_len == 1 and self.past > 0 else "prefill"

    def heads_apply(self, phase: Phase) -> bool:
        return self.spec.phase == "all" or phase == "generation"

    # mixer ablation: a forward hook on each ablated SSM/recurrent block ---------------------------------
    def zero_mixer_output(self, module: nn.Module, args: tuple, output: Any) -> Any:
        hidden = output[0] if isinstance(output, tuple) else output  # [b, q, hidden]
        if not self.heads_apply(self.call_phase(hidden.shape[1])):
            return output
        if isinstance(output, tuple):
            return (torch.zeros_like(hidden), *output[1:])
        return torch.zeros_like(hidden)
