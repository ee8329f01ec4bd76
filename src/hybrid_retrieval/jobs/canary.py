"""The intervention canary: before a model job writes a row, prove on its first trial that the interventions
act, in each phase the job uses.

For each phase: keeping every head (k = H) must leave the logits bit-identical to the untouched model, and
keeping none (k = 0) must change them. The first catches an intervention that alters what it should not
(an adapter reporting the wrong heads, a wrong attention function); the second one that silently does
nothing (an adapter finding the wrong modules, a generation step taken for prefill, attention that does not
dispatch through the intervention). Either stops the job with `CanaryError`, naming model, family and phase.

The prompt is the first trial's first `CANARY_TOKENS` tokens at most, and short enough that the
interventions' attention runs in one query chunk: there it is eager attention bit for bit, whereas a
chunked long prefill equals it only to rounding (tests/model/test_interventions.py).

- prefill: the whole prompt in one forward, k = 0 / k = H with phase "all"; the last position's logits.
- generation: one prefill up to the job's boundary, then one cached single-token step from a branch of it
  (the last prompt token for `last_token_as_generation`, else the untouched first answer token), untouched
  and under k = H / k = 0 with phase "generation"; that step's logits.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch

from hybrid_retrieval import interventions
from hybrid_retrieval.errors import InterventionError
from hybrid_retrieval.generation.decode_state import install
from hybrid_retrieval.generation.decoding import branch, prefill
from hybrid_retrieval.interventions import InterventionSpec, apply_intervention
from hybrid_retrieval.models.loading import LoadedModel
from hybrid_retrieval.models.registry import family_of

PHASES = ("prefill", "generation")
CANARY_TOKENS = 512


class CanaryError(InterventionError):
    """An intervention did nothing where it should act, or changed what it should leave alone."""


def canary_phases(specs: Iterable[InterventionSpec]) -> tuple[str, ...]:
    """The phases the specs act in: head masks and mixer ablation in their `phase` (all = both), exposure
    modes where they are not "keep". A job of untouched runs only still checks generation (its decoding)."""
    used: set[str] = set()
    for spec in specs:
        if spec.kind != "none":
            used |= {"prefill", "generation"} if spec.phase == "all" else {"generation"}
        if spec.generation_mode != "keep":
            used.add("generation")
        if spec.effective_prefill_mode != "keep":
            used.add("prefill")
    return tuple(p for p in PHASES if p in used) or ("generation",)


def _keep_all(loaded: LoadedModel, phase: str) -> InterventionSpec:
    """Every head kept: entropy top-k with k = H, or every (layer, head) listed where head counts differ."""
    layers = loaded.adapter.attention_layers(loaded.model)
    counts = {layer.num_heads for layer in layers}
    when = "all" if phase == "prefill" else "generation"
    if len(counts) == 1:
        return InterventionSpec(kind="entropy_topk", k=counts.pop(), phase=when)
    heads = tuple((layer.layer_index, h) for layer in layers for h in range(layer.num_heads))
    return InterventionSpec(kind="static_heads", heads=heads, phase=when)


def _prefill_logits(loaded: LoadedModel, ids: torch.Tensor, spec: InterventionSpec | None) -> torch.Tensor:
    if spec is None:
        return prefill(loaded, ids, "whole_prompt").logits
    with apply_intervention(loaded, spec):
        return prefill(loaded, ids, "whole_prompt").logits


@torch.inference_mode()
def _step_logits(loaded: LoadedModel, start, spec: InterventionSpec | None) -> torch.Tensor:
    """One cached single-token step from a fresh branch of `start`."""
    state = branch(start, [0])
    cache = install(state.state)
    step = state.step_input if state.step_input is not None else state.logits.argmax(-1, keepdim=True)
    model = loaded.model
    if spec is None:
        out = model(
            input_ids=step, position_ids=state.position, cache=cache, use_cache=True, logits_to_keep=1
        )
    else:
        with apply_intervention(loaded, spec):
            out = model(
                input_ids=step, position_ids=state.position, cache=cache, use_cache=True, logits_to_keep=1
            )
    return out.logits[:, -1]


def check_interventions(
    loaded: LoadedModel, input_ids: Sequence[int], phases: Iterable[str], prefill_boundary: str
) -> None:
    """Raise CanaryError unless, on this prompt, k = H is bit-identical to the untouched model and k = 0
    changes the logits in each of `phases` ("prefill", "generation")."""
    heads = max((layer.num_heads for layer in loaded.adapter.attention_layers(loaded.model)), default=1)
    unchunked = math.isqrt(interventions._SCORE_ELEMENTS_PER_CHUNK // heads)  # heads * n * n fits one chunk
    ids = torch.tensor([list(input_ids)[: max(2, min(CANARY_TOKENS, unchunked))]], dtype=torch.long)
    family = family_of(loaded.adapter)
    for phase in phases:
        if phase not in PHASES:
            raise CanaryError(f"canary phase {phase!r} is not one of {', '.join(PHASES)}")
        when = "all" if phase == "prefill" else "generation"
        keep_all, keep_none = _keep_all(loaded, phase), InterventionSpec(kind="entropy_topk", k=0, phase=when)
        if phase == "prefill":
            untouched, kept, removed = (_prefill_logits(loaded, ids, s) for s in (None, keep_all, keep_none))
        else:
            start = prefill(loaded, ids, prefill_boundary)
            untouched, kept, removed = (_step_logits(loaded, start, s) for s in (None, keep_all, keep_none))
        where = f"model {loaded.name} (family {family}), phase {phase}"
        if not torch.equal(untouched, kept):
            delta = (untouched.float() - kept.float()).abs().max().item()
            raise CanaryError(
                f"intervention canary failed for {where}: keeping every head changed the logits (max |d| = "
                f"{delta:.3g}): the interventions' attention is not this model's (an argument of its attention "
                "they ignore, such as logit soft-capping, or heads its adapter misreports); no row written"
            )
        if torch.equal(untouched, removed):
            raise CanaryError(
                f"intervention canary failed for {where}: k = 0 left the logits bit-identical, so the "
                "interventions do nothing there (the adapter finds the wrong modules, or this phase is "
                "misdetected); no row written"
            )
