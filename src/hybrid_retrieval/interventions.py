"""Attention-head interventions as a context manager that always restores the model.

How it works: transformers 5.x attention modules (RecurrentGemmaAttention, JambaAttention, ...) call
`ALL_ATTENTION_FUNCTIONS.get_interface(config._attn_implementation, ...)`. We register one attention
function (`ATTENTION_IMPLEMENTATION`) that computes eager attention and applies the active spec, and
switch the model to it inside `apply_intervention`; no model code is patched. Per-head masking acts on
`probs @ V` per head, i.e. on the input of `o_proj` where heads are still separate (an `o_proj` bias,
as in RecurrentGemma, is kept).

Which call is what: a forward pre-hook on the decoder (`model.base_model`) records how many tokens
the cache held before the call (`past`). A call is a *generation step* when it feeds one token on top
of a non-empty cache (`query_len == 1 and past > 0`); everything else is *prefill*. That holds for
`model.generate` and for a manual greedy loop passing `cache=`/`past_key_values=`; a loop without a
cache (re-feeding the whole sequence) is all prefill.

Key index -> absolute position: the keys an attention call sees always end at the newest query
(DynamicCache, RecurrentGemma's sliding-window DynamicCache layer, a full static sliding window), so
key j is position `past + q - kv_len + j`; when the call sees at least `past + q` keys (no cache,
full dynamic cache, a static buffer not yet full) key j is position j. Keys outside a local window are
either absent or masked, so a needle beyond RecurrentGemma's window is simply unreachable.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

import pydantic
import torch
from torch import nn
from transformers import AttentionInterface
from transformers.masking_utils import AttentionMaskInterface, eager_mask

from hybrid_retrieval.errors import InterventionError

if TYPE_CHECKING:
    from hybrid_retrieval.models.base import AttentionLayer
    from hybrid_retrieval.models.loading import LoadedModel

ATTENTION_IMPLEMENTATION = "hybrid_retrieval_intervention"

Kind = Literal["none", "entropy_topk", "random_k", "static_heads", "layer_ablation", "mixer_ablation"]
ExposureMode = Literal["keep", "omit", "only", "balanced", "null"]
Phase = Literal["prefill", "generation"]
NeedleSpans = Sequence[Sequence[tuple[int, int]]]
Recorder = Callable[[int, str, torch.Tensor, torch.Tensor, torch.Tensor | None], None]

_HEAD_KINDS = ("entropy_topk", "random_k", "static_heads", "layer_ablation")
_RANDOM_BLOCK = 1024  # query positions per seeded random block (random_k)
_SCORE_ELEMENTS_PER_CHUNK = 1 << 26  # bounds eager memory: batch * heads * query chunk * keys


class InterventionSpec(pydantic.BaseModel):
    """What to do to attention (and mixers) during a forward pass. Definitions: docs/INTERFACES.md."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    kind: Kind
    k: int | None = None  # heads kept per attention layer (entropy_topk, random_k)
    phase: Literal["generation", "all"] = "generation"  # all = prefill + generation
    layers: tuple[int, ...] | None = None  # layer_ablation / mixer_ablation: decoder layer indices
    heads: tuple[tuple[int, int], ...] | None = None  # static_heads: (layer_index, head) kept
    generation_mode: ExposureMode = "keep"
    prefill_mode: Literal["keep", "omit", "only", "balanced", "null", "follow"] = "keep"
    # "authors": their exposure math (one head-mean `balanced` scalar per call; a row whose needle is out
    # of the window is left unchanged); "per_head_causal": ours (each head keeps its own needle mass,
    # spread over the needle keys each query can see; `only`/`null`/`balanced` act out of the window too).
    exposure_rule: Literal["authors", "per_head_causal"] = "authors"
    # head score of entropy_topk: "entropy" (keep the k lowest-entropy heads) or "l2" (keep the k heads
    # whose attention distribution has the largest L2 norm: the authors' function default).
    head_score: Literal["entropy", "l2"] = "entropy"
    seed: int = 0

    @pydantic.field_validator("layers", "heads")
    @classmethod
    def _sorted_unique(cls, value: tuple | None) -> tuple | None:
        # Canonical order so equal sets hash equally; a duplicate is almost surely a config typo.
        if value is None:
            return None
        if len(set(value)) != len(value):
            raise ValueError(f"duplicate entries in {list(value)}; list each layer/head once")
        return tuple(sorted(value))

    @pydantic.model_validator(mode="after")
    def _fields_match_kind(self) -> InterventionSpec:
        needs = {
            "entropy_topk": "k",
            "random_k": "k",
            "static_heads": "heads",
            "layer_ablation": "layers",
            "mixer_ablation": "layers",
        }.get(self.kind)
        for name in ("k", "heads", "layers"):
            value = getattr(self, name)
            if name == needs and value is None:
                raise ValueError(f"kind={self.kind!r} needs {name!r}; got none")
            if name != needs and value is not None:
                raise ValueError(
                    f"{name}={value!r} has no meaning for kind={self.kind!r}; remove it"
                    + (f" (kind {self.kind!r} uses {needs!r})" if needs else "")
                )
        if self.kind in ("layer_ablation", "mixer_ablation") and not self.layers:
            raise ValueError(f"kind={self.kind!r} needs at least one layer index in 'layers'")
        return self

    @property
    def effective_prefill_mode(self) -> ExposureMode:
        return self.generation_mode if self.prefill_mode == "follow" else self.prefill_mode

    @property
    def uses_needles(self) -> bool:
        return self.generation_mode != "keep" or self.effective_prefill_mode != "keep"

    def spec_hash(self) -> str:
        """sha256 of the canonical JSON of all fields, 12 hex chars."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    def label(self) -> str:
        """Kebab-case condition name, e.g. "entropy-top-2-generation"."""
        if self.kind == "none":
            parts = [] if self.uses_needles else ["baseline"]
        elif self.kind == "entropy_topk":
            score = "entropy" if self.head_score == "entropy" else "l2"
            parts = [f"{score}-top-{self.k}-{self.phase}"]
        elif self.kind == "random_k":
            parts = [f"random-{self.k}-{self.phase}-seed-{self.seed}"]
        elif self.kind == "static_heads":
            digest = hashlib.sha256(json.dumps(self.heads).encode()).hexdigest()[:6]
            parts = [f"static-heads-{len(self.heads or ())}-{self.phase}-{digest}"]
        else:
            what = "attention" if self.kind == "layer_ablation" else "mixer"
            layers = "-".join(str(i) for i in self.layers or ())
            parts = [f"ablate-{what}-layers-{layers}-{self.phase}"]
        if self.uses_needles:
            parts.append(f"exposure-gen-{self.generation_mode}-prefill-{self.prefill_mode}")
            if self.exposure_rule != "authors":
                parts.append(self.exposure_rule.replace("_", "-"))
        return "-".join(parts)

    def fields(self) -> dict[str, Any]:
        """Flat, model-independent columns for result rows (see `model_fields` for the rest)."""
        return {
            "condition": self.label(),
            "intervention_hash": self.spec_hash(),
            "kind": self.kind,
            "k": self.k,
            "phase": self.phase,
            "generation_mode": self.generation_mode,
            "prefill_mode": self.prefill_mode,
            "exposure_rule": self.exposure_rule,
            "head_score": self.head_score,
            "spec_seed": self.seed,
        }


def model_fields(spec: InterventionSpec, loaded: LoadedModel) -> dict[str, Any]:
    """`num_heads` (per attention layer), `kept_fraction` of (layer, head) pairs the spec keeps, and the
    smallest local `attention_window` (None = global attention)."""
    layers = loaded.adapter.attention_layers(loaded.model)
    windows = [layer.window for layer in layers if layer.window is not None]
    num_heads = layers[0].num_heads if layers else 0
    total = sum(layer.num_heads for layer in layers)
    if spec.kind in ("entropy_topk", "random_k"):
        kept = float(spec.k) / num_heads if num_heads else 0.0
    elif spec.kind == "static_heads":
        kept = len(spec.heads or ()) / total if total else 0.0
    elif spec.kind == "layer_ablation":
        ablated = sum(layer.num_heads for layer in layers if layer.layer_index in (spec.layers or ()))
        kept = 1.0 - ablated / total if total else 0.0
    else:
        kept = 1.0
    return {"num_heads": num_heads, "kept_fraction": kept, "attention_window": min(windows) if windows else None}


# ---------------------------------------------------------------------------------------------------
# Pure functions (unit-tested on hand-made tensors)


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


def key_positions(past: int, query_len: int, kv_len: int, device: torch.device | None = None) -> torch.Tensor:
    """Absolute token position of each key index of one attention call (see module docstring)."""
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


def authors_exposure(
    probs: torch.Tensor, needle: torch.Tensor, mode: str, visible: torch.Tensor | None, needle_sum: torch.Tensor
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


def _visible_keys(attention_mask: torch.Tensor | None) -> torch.Tensor | None:
    if attention_mask is None:
        return None
    if attention_mask.dtype == torch.bool:
        return attention_mask
    return attention_mask > torch.finfo(attention_mask.dtype).min / 2


def _repeat_kv(states: torch.Tensor, groups: int) -> torch.Tensor:
    # [b, kv_heads, n, d] -> [b, kv_heads * groups, n, d], as transformers' repeat_kv
    if groups == 1:
        return states
    b, kv_heads, n, d = states.shape
    return states[:, :, None].expand(b, kv_heads, groups, n, d).reshape(b, kv_heads * groups, n, d)


# ---------------------------------------------------------------------------------------------------
# The controller: one per active `apply_intervention`


class _Controller:
    def __init__(
        self,
        spec: InterventionSpec,
        layers: list[AttentionLayer],
        needle_spans: NeedleSpans | None,
        recorder: Recorder | None,
    ) -> None:
        self.spec = spec
        self.layers = {id(layer.module): layer for layer in layers}
        self.needle_spans = needle_spans
        self.recorder = recorder
        self.past: int | None = None  # tokens in the cache before the current forward
        self._random_blocks: dict[tuple[int, int], torch.Tensor] = {}
        self._static: dict[int, torch.Tensor] = {}
        if spec.kind == "static_heads":
            for layer in layers:
                kept = torch.zeros(layer.num_heads, dtype=torch.bool)
                for layer_index, head in spec.heads or ():
                    if layer_index == layer.layer_index:
                        kept[head] = True
                self._static[layer.layer_index] = kept

    # hooks on the decoder ---------------------------------------------------------------------------
    def begin_forward(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        self.past = int(cache.get_seq_length()) if cache is not None else 0

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

    # mixer ablation ---------------------------------------------------------------------------------
    def zero_mixer_output(self, module: nn.Module, args: tuple, output: Any) -> Any:
        hidden = output[0] if isinstance(output, tuple) else output  # [b, q, hidden]
        if not self.heads_apply(self.call_phase(hidden.shape[1])):
            return output
        if isinstance(output, tuple):
            return (torch.zeros_like(hidden), *output[1:])
        return torch.zeros_like(hidden)

    # head masks -------------------------------------------------------------------------------------
    def _random_scores(self, layer_index: int, positions: torch.Tensor, num_heads: int) -> torch.Tensor:
        # One seeded block of scores per (layer, 1024 positions): the same heads for a position
        # whatever the batch or chunking, so batched runs equal one-at-a-time runs.
        rows = []
        for pos in positions.tolist():
            block, offset = divmod(pos, _RANDOM_BLOCK)
            key = (layer_index, block)
            if key not in self._random_blocks:
                digest = hashlib.sha256(f"{self.spec.seed}:{layer_index}:{block}".encode()).digest()
                generator = torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)
                self._random_blocks[key] = torch.rand(_RANDOM_BLOCK, num_heads, generator=generator)
            rows.append(self._random_blocks[key][offset])
        return torch.stack(rows)

    def head_mask(
        self, layer: AttentionLayer, entropy: torch.Tensor | None, positions: torch.Tensor, shape: tuple
    ) -> torch.Tensor | None:
        """bool kept [b, h, q] for this chunk, or None when every head is kept."""
        spec = self.spec
        b, h, q = shape
        if spec.kind == "entropy_topk":
            assert entropy is not None
            return topk_head_mask(entropy, spec.k or 0)
        if spec.kind == "random_k":
            kept = lowest_score_mask(self._random_scores(layer.layer_index, positions, h), spec.k or 0)
            return kept.T[None].expand(b, h, q).to(positions.device)
        if spec.kind == "static_heads":
            return self._static[layer.layer_index].to(positions.device)[None, :, None].expand(b, h, q)
        if spec.kind == "layer_ablation" and layer.layer_index in (spec.layers or ()):
            return torch.zeros(shape, dtype=torch.bool, device=positions.device)
        return None

    # the attention function -------------------------------------------------------------------------
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
        masking = spec.kind in _HEAD_KINDS and self.heads_apply(phase)
        mode = spec.generation_mode if phase == "generation" else spec.effective_prefill_mode

        groups = layer.num_heads // layer.num_kv_heads
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
        chunk = max(1, _SCORE_ELEMENTS_PER_CHUNK // max(1, batch * num_heads * kv_len))
        authors = spec.exposure_rule == "authors"
        if mode != "keep" and needle is None:
            raise InterventionError(f"exposure mode {mode!r} needs needle_spans")
        needle_sum = None
        if authors and mode == "balanced":
            # their scalar sums over every query of the call: a first pass over the query chunks
            assert needle is not None
            needle_sum = torch.zeros(batch, dtype=torch.float32, device=query.device)
            for start in range(0, query_len, chunk):
                stop = min(start + chunk, query_len)
                scores = torch.matmul(query[:, :, start:stop], key_states.transpose(2, 3)) * scaling
                if attention_mask is not None:
                    scores = scores + attention_mask[:, :, start:stop, :kv_len]
                probs32 = nn.functional.softmax(scores, dim=-1, dtype=torch.float32)
                needle_sum += probs32.masked_fill(~needle[:, None, None, :], 0.0).sum(dim=(1, 2, 3))
        outputs, weights, entropies, kepts, masses = [], [], [], [], []
        for start in range(0, query_len, chunk):
            stop = min(start + chunk, query_len)
            # Eager attention exactly as transformers' eager_attention_forward, per query chunk.
            scores = torch.matmul(query[:, :, start:stop], key_states.transpose(2, 3)) * scaling
            chunk_mask = None if attention_mask is None else attention_mask[:, :, start:stop, :kv_len]
            if chunk_mask is not None:
                scores = scores + chunk_mask
            probs32 = nn.functional.softmax(scores, dim=-1, dtype=torch.float32)
            entropy = attention_entropy(probs32) if need_entropy else None
            # the rule's ranking score (lowest kept): entropy, or the negated L2 norm (largest kept)
            rank = entropy
            if masking and spec.kind == "entropy_topk" and spec.head_score == "l2":
                rank = -attention_l2(probs32)
            if self.recorder is not None and needle is not None:
                # mass on the needle of the unmodified distribution: [b, h, q_chunk]
                masses.append(probs32.masked_fill(~needle[:, None, None, :], 0.0).sum(dim=-1))
            if mode != "keep":
                assert needle is not None
                if authors:
                    if needle_sum is None:
                        needle_sum = torch.zeros(batch, dtype=torch.float32, device=query.device)
                    # they filter needle keys by the window only at single-token steps (prefill: all)
                    seen = _visible_keys(chunk_mask) if query_len == 1 else None
                    probs32 = authors_exposure(probs32, needle, mode, seen, needle_sum)
                else:
                    probs32 = apply_exposure(probs32, needle, mode, _visible_keys(chunk_mask))
            probs = probs32.to(query.dtype)
            probs = nn.functional.dropout(probs, p=dropout, training=module.training)
            out = torch.matmul(probs, value_states)  # [b, h, q_chunk, d]
            kept = None
            if masking:
                shape = (batch, num_heads, stop - start)
                kept = self.head_mask(layer, rank, query_positions[start:stop], shape)
                if kept is not None:
                    out = out * kept[..., None].to(out.dtype)
            outputs.append(out)
            weights.append(probs)
            if self.recorder is not None:
                assert entropy is not None
                entropies.append(entropy)
                kepts.append(torch.ones_like(entropy, dtype=torch.bool) if kept is None else kept)
        if self.recorder is not None:
            self.recorder(
                layer.layer_index,
                phase,
                torch.cat(entropies, dim=-1),
                torch.cat(kepts, dim=-1),
                torch.cat(masses, dim=-1) if masses else None,
            )
        attn_output = torch.cat(outputs, dim=2).transpose(1, 2).contiguous()
        # Full weights only when they were computed in one piece (output_attentions on short inputs).
        attn_weights = weights[0] if len(weights) == 1 else None
        return attn_output, attn_weights


_CONTROLLERS: dict[int, _Controller] = {}


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
    controller = _CONTROLLERS.get(id(module))
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


# ---------------------------------------------------------------------------------------------------
# Public entry points


def validate_spec(spec: InterventionSpec, loaded: LoadedModel) -> None:
    """Raise InterventionError if `spec` cannot apply to this model (naming the value and valid range)."""
    attention = loaded.adapter.attention_layers(loaded.model)
    attention_indices = [layer.layer_index for layer in attention]
    heads_per_layer = {layer.layer_index: layer.num_heads for layer in attention}
    if (spec.kind in _HEAD_KINDS or spec.uses_needles) and not attention:
        raise InterventionError(f"{loaded.name} has no attention layers; kind={spec.kind!r} cannot apply")
    if spec.kind in ("entropy_topk", "random_k"):
        smallest = min(heads_per_layer.values())
        if spec.k is None or not 0 <= spec.k <= smallest:
            raise InterventionError(
                f"k={spec.k} is out of range for {loaded.name}: heads per attention layer = {smallest}, "
                f"so k must be in 0..{smallest}"
            )
    if spec.kind == "static_heads":
        for layer_index, head in spec.heads or ():
            if layer_index not in heads_per_layer:
                raise InterventionError(
                    f"static head ({layer_index}, {head}): layer {layer_index} is not an attention layer "
                    f"of {loaded.name}; attention layers are {attention_indices}"
                )
            if not 0 <= head < heads_per_layer[layer_index]:
                raise InterventionError(
                    f"static head ({layer_index}, {head}): head must be in 0..{heads_per_layer[layer_index] - 1}"
                )
    if spec.kind == "layer_ablation":
        for layer_index in spec.layers or ():
            if layer_index not in heads_per_layer:
                raise InterventionError(
                    f"layer_ablation layer {layer_index} is not an attention layer of {loaded.name}; "
                    f"attention layers are {attention_indices}"
                )
    if spec.kind == "mixer_ablation":
        mixer_indices = [layer.layer_index for layer in loaded.adapter.mixer_layers(loaded.model)]
        for layer_index in spec.layers or ():
            if layer_index not in mixer_indices:
                raise InterventionError(
                    f"mixer_ablation layer {layer_index} is not an SSM/recurrent layer of {loaded.name}; "
                    f"mixer layers are {mixer_indices}"
                )


def _check_needle_spans(spec: InterventionSpec, needle_spans: NeedleSpans | None) -> NeedleSpans | None:
    if needle_spans is None:
        if spec.uses_needles:
            raise InterventionError(
                f"exposure modes generation_mode={spec.generation_mode!r}, prefill_mode="
                f"{spec.prefill_mode!r} need needle_spans (one list of [start, end) spans per batch row)"
            )
        return None
    checked = []
    for row, spans in enumerate(needle_spans):
        row_spans = []
        for span in spans:
            start, end = (int(x) for x in span)
            if not 0 <= start < end:
                raise InterventionError(
                    f"needle span {tuple(span)} in row {row} is empty or negative; spans are [start, end) "
                    "token positions with 0 <= start < end"
                )
            row_spans.append((start, end))
        checked.append(row_spans)
    return checked


def _set_attention_implementation(model: nn.Module, layers: list[AttentionLayer], name: str) -> None:
    model.set_attn_implementation(name)
    wrong = [layer.layer_index for layer in layers if layer.module.config._attn_implementation != name]
    if wrong:
        raise InterventionError(
            f"could not switch attention layers {wrong} of {type(model).__name__} to {name!r}; this "
            "model class does not dispatch attention through transformers' AttentionInterface"
        )


@contextmanager
def apply_intervention(
    loaded: LoadedModel,
    spec: InterventionSpec,
    *,
    needle_spans: NeedleSpans | None = None,
    recorder: Recorder | None = None,
) -> Iterator[None]:
    """Run the model under `spec` inside the block; the model is restored on exit, also on error.

    `needle_spans`: per batch row, [start, end) positions in the input ids (exposure modes and the
    recorder's needle mass). `recorder(layer_index, phase, entropy[b,h,q], kept[b,h,q],
    needle_mass[b,h,q] | None)` is called from every attention call ("prefill" or "generation").
    """
    validate_spec(spec, loaded)
    spans = _check_needle_spans(spec, needle_spans)
    model = loaded.model
    layers = loaded.adapter.attention_layers(model)
    if any(id(layer.module) in _CONTROLLERS for layer in layers):
        raise InterventionError(
            "apply_intervention is already active on this model; nesting is not supported"
        )
    controller = _Controller(spec, layers, spans, recorder)
    decoder = getattr(model, "base_model", model)
    previous = model.config._attn_implementation
    handles = [
        decoder.register_forward_pre_hook(controller.begin_forward, with_kwargs=True),
        decoder.register_forward_hook(controller.end_forward, with_kwargs=True, always_call=True),
    ]
    try:
        if spec.kind == "mixer_ablation":
            for mixer in loaded.adapter.mixer_layers(model):
                if mixer.layer_index in (spec.layers or ()):
                    handles.append(mixer.module.register_forward_hook(controller.zero_mixer_output))
        for layer in layers:
            _CONTROLLERS[id(layer.module)] = controller
        _set_attention_implementation(model, layers, ATTENTION_IMPLEMENTATION)
        yield
    finally:
        for handle in handles:
            handle.remove()
        for layer in layers:
            _CONTROLLERS.pop(id(layer.module), None)
        model.set_attn_implementation(previous)
