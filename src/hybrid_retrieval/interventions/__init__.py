"""Attention-head interventions as a context manager that always restores the model.

`apply_intervention(loaded, spec, needle_spans=..., recorder=...)` runs the model under an
`InterventionSpec` inside a `with` block. The pieces, each in its own module:

- `spec`: the spec (kinds, exposure modes, phases), its label and hash, and its result-row columns;
- `phases`: the decoder hooks that tell prefill from generation steps, and mixer ablation;
- `head_selection`: per-head scores and the heads each kind keeps;
- `exposure`: needle keys and the exposure modes (the authors' rule and ours);
- `attention`: the registered attention function that composes them per query chunk, and records.

Contracts: docs/INTERFACES.md ("Interventions").
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from hybrid_retrieval.errors import InterventionError
from hybrid_retrieval.interventions.attention import ATTENTION_IMPLEMENTATION, Controller, installed
from hybrid_retrieval.interventions.exposure import (
    apply_exposure,
    authors_exposure,
    key_positions,
    needle_key_mask,
)
from hybrid_retrieval.interventions.head_selection import (
    attention_entropy,
    attention_l2,
    lowest_score_mask,
    topk_head_mask,
)
from hybrid_retrieval.interventions.spec import (
    HEAD_KINDS,
    ExposureMode,
    InterventionSpec,
    Kind,
    NeedleSpans,
    Phase,
    Recorder,
    model_fields,
)

if TYPE_CHECKING:
    from hybrid_retrieval.models.loading import LoadedModel

__all__ = [
    "ATTENTION_IMPLEMENTATION",
    "ExposureMode",
    "InterventionSpec",
    "Kind",
    "NeedleSpans",
    "Phase",
    "Recorder",
    "apply_exposure",
    "apply_intervention",
    "attention_entropy",
    "attention_l2",
    "authors_exposure",
    "key_positions",
    "lowest_score_mask",
    "model_fields",
    "needle_key_mask",
    "topk_head_mask",
    "validate_spec",
]

# Bounds eager memory: batch * heads * query chunk * keys per score tensor. The attention function reads
# it here at every call (tests shrink it to force chunking).
_SCORE_ELEMENTS_PER_CHUNK = 1 << 26


def validate_spec(spec: InterventionSpec, loaded: LoadedModel) -> None:
    """Raise InterventionError if `spec` cannot apply to this model (naming the value and valid range)."""
    attention = loaded.adapter.attention_layers(loaded.model)
    attention_indices = [layer.layer_index for layer in attention]
    heads_per_layer = {layer.layer_index: layer.num_heads for layer in attention}
    if (spec.kind in HEAD_KINDS or spec.uses_needles) and not attention:
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
    controller = Controller(spec, layers, spans, recorder)
    handles = []
    try:
        if spec.kind == "mixer_ablation":
            for mixer in loaded.adapter.mixer_layers(model):
                if mixer.layer_index in (spec.layers or ()):
                    handles.append(mixer.module.register_forward_hook(controller.zero_mixer_output))
        with installed(model, layers, controller):
            yield
    finally:
        for handle in handles:
            handle.remove()
