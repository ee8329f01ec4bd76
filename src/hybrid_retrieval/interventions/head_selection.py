"""Which attention heads a query keeps: per-head scores, top-k masks and the kinds' kept mask per chunk.

Per-head masking acts on `probs @ V` per head, i.e. on the input of `o_proj` where heads are still
separate (an `o_proj` bias, as in RecurrentGemma, is kept). `entropy_topk` keeps the k heads with the
lowest score per (row, query) (the entropy, or the negated L2 norm); `random_k` keeps k heads drawn from
seeded blocks of scores; `static_heads` keeps a fixed list; `layer_ablation` keeps no head of its layers.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import torch

from hybrid_retrieval.errors import InterventionError
from hybrid_retrieval.interventions.spec import InterventionSpec

if TYPE_CHECKING:
    from hybrid_retrieval.models.base import AttentionLayer

RANDOM_BLOCK = 1024  # query positions per seeded random block (random_k)


# Pure functions (unit-tested on hand-made tensors) -----------------------------------------------------


def attention_entropy(probs: torch.Tensor) -> torch.Tensor:
    """H = -sum_j p_j log p_j over the last dim (0 log 0 = 0), in float32: [..., k] -> [...]."""
    p = probs.float()
    return -torch.special.xlogy(p, p).sum(dim=-1)


def attention_l2(probs: torch.Tensor) -> torch.Tensor:
    """The L2 norm of each attention distribution over the last dim, in float32: [..., k] -> [...]."""
    return torch.linalg.vector_norm(probs.float(), ord=2, dim=-1)


def topk_head_mask(entropy: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k lowest-entropy heads per (batch, query): entropy [b, h, q] -> bool kept [b, h, q].

    Ties go to the lower head index (stable sort), so the choice is deterministic.
    """
    num_heads = entropy.shape[1]
    if not 0 <= k <= num_heads:
        raise InterventionError(f"k={k} is outside 0..{num_heads} (heads per layer)")
    order = torch.sort(entropy, dim=1, stable=True).indices  # [b, h, q], most peaked first
    kept = torch.zeros_like(entropy, dtype=torch.bool)
    return kept.scatter(1, order[:, :k], True)


def lowest_score_mask(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k heads with the lowest score per row: scores [q, h] -> bool [q, h]."""
    order = torch.sort(scores, dim=-1, stable=True).indices
    return torch.zeros_like(scores, dtype=torch.bool).scatter(-1, order[:, :k], True)


# The kept mask of one attention call's query chunk -----------------------------------------------------


class HeadSelector:
    """The kept mask of each kind; holds the seeded random blocks and the static masks of one intervention."""

    def __init__(self, spec: InterventionSpec, layers: list[AttentionLayer]) -> None:
        self.spec = spec
        self._random_blocks: dict[tuple[int, int], torch.Tensor] = {}
        self._static: dict[int, torch.Tensor] = {}
        if spec.kind == "static_heads":
            for layer in layers:
                kept = torch.zeros(layer.num_heads, dtype=torch.bool)
                for layer_index, head in spec.heads or ():
                    if layer_index == layer.layer_index:
                        kept[head] = True
                self._static[layer.layer_index] = kept

    def _random_scores(self, layer_index: int, positions: torch.Tensor, num_heads: int) -> torch.Tensor:
        # One seeded block of scores per (layer, 1024 positions): the same heads for a position
        # whatever the batch or chunking, so batched runs equal one-at-a-time runs.
        rows = []
        for pos in positions.tolist():
            block, offset = divmod(pos, RANDOM_BLOCK)
            key = (layer_index, block)
            if key not in self._random_blocks:
                digest = hashlib.sha256(f"{self.spec.seed}:{layer_index}:{block}".encode()).digest()
                generator = torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)
                self._random_blocks[key] = torch.rand(RANDOM_BLOCK, num_heads, generator=generator)
            rows.append(self._random_blocks[key][offset])
        return torch.stack(rows)

    def head_mask(
        self, layer: AttentionLayer, rank: torch.Tensor | None, positions: torch.Tensor, shape: tuple
    ) -> torch.Tensor | None:
        """bool kept [b, h, q] for this chunk, or None when every head is kept. `rank` [b, h, q]: the
        entropy_topk score (lowest kept); `positions`: the chunk's absolute query positions."""
        spec = self.spec
        b, h, q = shape
        if spec.kind == "entropy_topk":
            assert rank is not None
            return topk_head_mask(rank, spec.k or 0)
        if spec.kind == "random_k":
            kept = lowest_score_mask(self._random_scores(layer.layer_index, positions, h), spec.k or 0)
            return kept.T[None].expand(b, h, q).to(positions.device)
        if spec.kind == "static_heads":
            return self._static[layer.layer_index].to(positions.device)[None, :, None].expand(b, h, q)
        if spec.kind == "layer_ablation" and layer.layer_index in (spec.layers or ()):
            return torch.zeros(shape, dtype=torch.bool, device=positions.device)
        return None
