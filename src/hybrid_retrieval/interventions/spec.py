"""What an intervention does: `InterventionSpec` (validated, hashable, labelled) and its result-row columns.

Field definitions: docs/INTERFACES.md. The spec is model-independent; `model_fields` adds the columns that
depend on the model it runs on, and `validate_spec` (in the package) checks it against that model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import pydantic
import torch

if TYPE_CHECKING:
    from hybrid_retrieval.models.loading import LoadedModel

Kind = Literal["none", "entropy_topk", "random_k", "static_heads", "layer_ablation", "mixer_ablation"]
ExposureMode = Literal["keep", "omit", "only", "balanced", "null"]
Phase = Literal["prefill", "generation"]
NeedleSpans = Sequence[Sequence[tuple[int, int]]]
Recorder = Callable[[int, str, torch.Tensor, torch.Tensor, torch.Tensor | None], None]

HEAD_KINDS = ("entropy_topk", "random_k", "static_heads", "layer_ablation")  # kinds that mask attention heads


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
    return {
        "num_heads": num_heads,
        "kept_fraction": kept,
        "attention_window": min(windows) if windows else None,
    }
