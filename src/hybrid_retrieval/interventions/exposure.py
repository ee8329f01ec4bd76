"""Needle exposure: which keys are needle tokens, and the post-softmax rewrite of each exposure mode.

Key index -> absolute position: the keys an attention call sees always end at the newest query
(DynamicCache, RecurrentGemma's sliding-window DynamicCache layer, a full static sliding window), so key j
is position `past + q - kv_len + j`; when the call sees at least `past + q` keys (no cache, full dynamic
cache, a static buffer not yet full) key j is position j. Keys outside a local window are either absent or
masked, so a needle beyond RecurrentGemma's window is simply unreachable.

Two rules (`InterventionSpec.exposure_rule`): `authors_exposure` is the authors' math (one head-mean
`balanced` scalar per call, summed over every query of the call by `authors_needle_sum`; a row whose
needle is out of reach is left unchanged); `apply_exposure` is ours (per head and query, causal).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from hybrid_retrieval.errors import InterventionError
from hybrid_retrieval.interventions.spec import NeedleSpans


def key_positions(past: int, query_len: int, kv_len: int, device: torch.device | None = None) -> torch.Tensor:
    """Absolute token position of each key index of one attention call (see the module docstring)."""
    total = past + query_len
    start = 0 if kv_len >= total else total - kv_len
    return torch.arange(start, start + kv_len, device=device)


def needle_key_mask(needle_spans: NeedleSpans, positions: torch.Tensor) -> torch.Tensor:
    """bool [batch, kv_len]: which keys are needle tokens, from per-row [start, end) spans."""
    rows = []
    for spans in needle_spans:
        row = torch.zeros_like(positions, dtype=torch.bool)
        for start, end in spans:
            row |= (positions >= start) & (positions < end)
        rows.append(row)
    return torch.stack(rows)


def visible_keys(attention_mask: torch.Tensor | None) -> torch.Tensor | None:
    """bool: the keys an additive (float) or boolean attention mask lets each query see; None = all."""
    if attention_mask is None:
        return None
    if attention_mask.dtype == torch.bool:
        return attention_mask
    return attention_mask > torch.finfo(attention_mask.dtype).min / 2


def apply_exposure(
    probs: torch.Tensor, needle: torch.Tensor, mode: str, visible: torch.Tensor | None = None
) -> torch.Tensor:
    """Post-softmax needle exposure, no renormalisation. probs [b, h, q, k]; needle bool [b, k];
    visible bool broadcastable to probs (keys the mask lets this query see), used by `balanced`."""
    if mode == "keep":
        return probs
    needle4 = needle[:, None, None, :]
    if mode == "omit":
        return probs.masked_fill(needle4, 0.0)
    if mode == "only":
        return probs.masked_fill(~needle4, 0.0)
    if mode == "null":
        return torch.zeros_like(probs)
    if mode == "balanced":
        # The needle's total mass, spread evenly over the needle keys this query can see.
        reachable = needle4 if visible is None else needle4 & visible
        mass = probs.masked_fill(~needle4, 0.0).sum(dim=-1, keepdim=True)
        count = reachable.sum(dim=-1, keepdim=True).clamp(min=1)
        return torch.where(reachable, mass / count, torch.zeros_like(probs))
    raise InterventionError(f"unknown exposure mode {mode!r}; use keep, omit, only, balanced or null")


def authors_needle_sum(
    prob_chunks: Iterable[torch.Tensor], needle: torch.Tensor, batch: int, device: torch.device
) -> torch.Tensor:
    """float32 [b]: each row's needle mass summed over heads, queries and needle keys, accumulated over
    the float32 probabilities [b, h, q_chunk, k] of every query chunk of the call (a first pass before
    `authors_exposure`'s `balanced`, so chunking the queries does not change their scalar)."""
    needle_sum = torch.zeros(batch, dtype=torch.float32, device=device)
    for probs32 in prob_chunks:
        needle_sum += probs32.masked_fill(~needle[:, None, None, :], 0.0).sum(dim=(1, 2, 3))
    return needle_sum


def authors_exposure(
    probs: torch.Tensor,
    needle: torch.Tensor,
    mode: str,
    visible: torch.Tensor | None,
    needle_sum: torch.Tensor,
) -> torch.Tensor:
    """The authors' exposure (recurrentgemma torch/utils.py `manipulate_weights`, per batch row).

    probs [b, h, q, k]; needle bool [b, k]; visible bool broadcastable to probs or None; needle_sum [b]:
    the row's needle mass summed over heads, ALL query positions of the call and needle keys. The needle
    keys are those some query of the call can see (their in-window indices). A row with none is left
    unchanged (their `if not token_indices: return probs`). `balanced` writes one scalar, needle_sum /
    heads / needle keys, to every needle key of every head and query, all other keys 0."""
    if mode == "keep":
        return probs
    b, h = probs.shape[:2]
    seen = needle[:, None, None, :]
    if visible is not None:
        seen = seen & visible.any(dim=2, keepdim=True).any(dim=1, keepdim=True)
    count = seen.sum(dim=(1, 2, 3))  # [b] needle keys in reach
    if mode == "omit":
        out = probs.masked_fill(seen, 0.0)
    elif mode == "only":
        out = probs.masked_fill(~seen, 0.0)
    elif mode == "null":
        out = torch.zeros_like(probs)
    elif mode == "balanced":
        value = needle_sum / h / count.clamp(min=1)  # [b]
        out = torch.where(seen, value[:, None, None, None].to(probs.dtype), torch.zeros_like(probs))
    else:
        raise InterventionError(f"unknown exposure mode {mode!r}; use keep, omit, only, balanced or null")
    untouched = (count == 0)[:, None, None, None]
    return torch.where(untouched, probs, out)
