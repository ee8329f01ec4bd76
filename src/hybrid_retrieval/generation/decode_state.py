"""Branching a model's decoding state: one prefill, many independent continuations.

After a prefill, the state lives in two places: the transformers cache (attention keys/values, Mamba
conv and SSM states) and, for RecurrentGemma in transformers 5.x, the modules themselves
(`RecurrentGemmaRecurrentBlock.conv1d_state`, `RecurrentGemmaRglru.recurrent_states`). The cache object
does not hold those, so `copy.deepcopy(cache)` gives copies that share (and keep advancing) one
recurrence. A `ModelState` holds both; `select_rows` builds a new state whose every tensor is a fresh
`index_select` of chosen rows (a row repeated for several branches, or a subset), so branches never
share storage. `install` puts a state into the model and returns the cache to decode with.

`capture` refuses a model with tensors held on modules that it does not know (a batch-sized tensor
attribute outside `MODULE_STATE`), and `select_rows` a cache layer with unknown batch-sized tensors:
silently sharing such state would make branches differ from fresh runs.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn
from transformers import Cache

from hybrid_retrieval.errors import InterventionError

# Module class name -> attributes holding per-row decoding state (not parameters or buffers).
MODULE_STATE: dict[str, tuple[str, ...]] = {
    "RecurrentGemmaRecurrentBlock": ("conv1d_state",),
    "RecurrentGemmaRglru": ("recurrent_states",),
}
_LAYER_TENSORS = ("keys", "values")  # DynamicLayer / DynamicSlidingWindowLayer
_LAYER_TENSOR_DICTS = ("conv_states", "recurrent_states")  # LinearAttentionLayer (Mamba)


@dataclass
class ModelState:
    """The decoding state of `rows` sequences: the cache and the module-held tensors, by module name."""

    cache: Cache
    modules: dict[str, tuple[nn.Module, dict[str, torch.Tensor | None]]]
    rows: int


def _batch_tensor(value: object, rows: int) -> bool:
    return isinstance(value, torch.Tensor) and value.dim() >= 1 and value.shape[0] == rows


def capture(model: nn.Module, cache: Cache, rows: int) -> ModelState:
    """The current state of `model` + `cache` after a forward on `rows` sequences (references, no copies)."""
    modules: dict[str, tuple[nn.Module, dict[str, torch.Tensor | None]]] = {}
    for name, module in model.named_modules():
        attrs = MODULE_STATE.get(type(module).__name__, ())
        if attrs:
            modules[name] = (module, {a: getattr(module, a) for a in attrs})
        unknown = [
            k for k, v in vars(module).items() if k not in attrs and not k.startswith("_") and _batch_tensor(v, rows)
        ]
        if unknown:
            raise InterventionError(
                f"{type(module).__name__} ({name}) holds batch-sized tensors {unknown} outside the cache; "
                "hybrid_retrieval.generation.decode_state.MODULE_STATE must list them before decoding can branch"
            )
    return ModelState(cache=cache, modules=modules, rows=rows)


def _select(value: torch.Tensor | None, index: torch.Tensor) -> torch.Tensor | None:
    return None if value is None else value.index_select(0, index.to(value.device))


def _select_layer(layer: object, index: torch.Tensor, rows: int) -> object:
    new = copy.copy(layer)  # new __dict__, values shared until replaced below
    for name, value in vars(layer).items():
        if name in _LAYER_TENSORS and _batch_tensor(value, rows):
            setattr(new, name, _select(value, index))
        elif name in _LAYER_TENSOR_DICTS and isinstance(value, dict):
            setattr(new, name, {k: _select(v, index) for k, v in value.items()})
        elif isinstance(value, dict):
            setattr(new, name, dict(value))  # flags such as has_previous_state change per branch
        elif _batch_tensor(value, rows):
            raise InterventionError(
                f"cache layer {type(layer).__name__} holds a batch-sized tensor {name!r} that "
                "hybrid_retrieval.generation.decode_state does not know how to branch"
            )
    return new


def select_rows(state: ModelState, index: torch.Tensor | list[int]) -> ModelState:
    """A new state of len(index) rows: row i is a fresh copy of the source row index[i]."""
    index = torch.as_tensor(index, dtype=torch.long)
    if index.numel() == 0 or int(index.min()) < 0 or int(index.max()) >= state.rows:
        raise InterventionError(f"row index {index.tolist()} is empty or outside 0..{state.rows - 1}")
    cache = copy.copy(state.cache)
    cache.layers = [_select_layer(layer, index, state.rows) for layer in state.cache.layers]
    modules = {
        name: (module, {a: _select(v, index) for a, v in attrs.items()})
        for name, (module, attrs) in state.modules.items()
    }
    return ModelState(cache=cache, modules=modules, rows=int(index.numel()))


def install(state: ModelState) -> Cache:
    """Put the module-held tensors of `state` into their modules; returns the cache to decode with.
    Decoding advances the installed tensors, so install a state once (`select_rows` for another branch)."""
    for module, attrs in state.modules.values():
        for name, value in attrs.items():
            setattr(module, name, value)
    return state.cache
