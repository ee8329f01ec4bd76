"""Greedy decoding on the model's cache, split into prefill and decode so one prefill can feed many conditions.

Where prefill ends is a per-model setting (the paper's phases; ARTIFACT.md):
- `whole_prompt` (Jamba, HF `generate`): the whole prompt is one forward; the first answer token comes
  from its last position.
- `last_token_as_generation` (RecurrentGemma, the authors' sampler): the prompt without its last token is
  the prefill; the last prompt token is then fed as a cached single-token step, which the interventions
  see as a generation step (sparsified, manipulated), and the first answer token comes from that step.

`prefill` returns a `Prefilled` (decoding state + what the first decode step needs); `branch` makes
independent copies of chosen rows (decode_state.select_rows), `decode` runs the greedy loop from one.
A prefill that nothing intervenes in or records can run with the model's SDPA attention
(`fast_attention=True`); the decode steps always run with the attention implementation in force
(the intervention's eager function inside `apply_intervention`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from transformers import DynamicCache

from hybrid_retrieval.errors import ConfigError, DataError
from hybrid_retrieval.generation.decode_state import ModelState, capture, install, select_rows
from hybrid_retrieval.interventions import InterventionSpec
from hybrid_retrieval.models.loading import LoadedModel

PREFILL_BOUNDARIES = ("last_token_as_generation", "whole_prompt")
# The authors' boundary per transformers model_type (the toys share their architecture's).
AUTHORS_PREFILL_BOUNDARY = {"recurrent_gemma": "last_token_as_generation", "jamba": "whole_prompt"}
FAST_ATTENTION = "sdpa"


def resolve_prefill_boundary(setting: str, loaded: LoadedModel) -> str:
    """A config value ("auto" or a boundary) -> the boundary for this model."""
    if setting in PREFILL_BOUNDARIES:
        return setting
    if setting != "auto":
        raise ConfigError(
            f"prefill_boundary {setting!r} is not one of auto, {', '.join(PREFILL_BOUNDARIES)}"
        )
    model_type = loaded.model.config.model_type
    if model_type not in AUTHORS_PREFILL_BOUNDARY:
        raise ConfigError(
            f"no authors' prefill boundary is known for model type {model_type!r} ({loaded.name}); set "
            f"models.{loaded.name}.prefill_boundary to one of {', '.join(PREFILL_BOUNDARIES)}"
        )
    return AUTHORS_PREFILL_BOUNDARY[model_type]


def prefill_is_intact(spec: InterventionSpec) -> bool:
    """True when `spec` leaves the prefill as the bare model computes it (so it can be shared and fast)."""
    return (spec.kind == "none" or spec.phase == "generation") and spec.effective_prefill_mode == "keep"


def eos_ids(loaded: LoadedModel) -> set[int]:
    ids: set[int] = set()
    for value in (
        loaded.tokenizer.eos_token_id,
        getattr(loaded.model.generation_config, "eos_token_id", None),
    ):
        if isinstance(value, int):
            ids.add(value)
        elif value is not None:
            ids.update(int(v) for v in value)
    return ids


@contextmanager
def attention_implementation(model: torch.nn.Module, name: str | None) -> Iterator[None]:
    """Inside the block the model runs attention implementation `name` (None: leave it as it is)."""
    previous = model.config._attn_implementation
    if name is None or name == previous:
        yield
        return
    model.set_attn_implementation(name)
    try:
        yield
    finally:
        model.set_attn_implementation(previous)


@dataclass
class Prefilled:
    """Decoding state after a prefill of `rows` prompts, plus what the first decode step needs: the
    next-token `logits` [rows, vocab] (whole_prompt) or the `step_input` [rows, 1] still to feed
    (last_token_as_generation), and the `position` [1, 1] of the next token fed."""

    state: ModelState
    logits: torch.Tensor | None
    step_input: torch.Tensor | None
    position: torch.Tensor

    @property
    def rows(self) -> int:
        return self.state.rows


def _forward(model, ids: torch.Tensor, position: torch.Tensor, cache) -> torch.Tensor:
    out = model(input_ids=ids, position_ids=position, cache=cache, use_cache=True, logits_to_keep=1)
    return out.logits[:, -1]


@torch.inference_mode()
def prefill(
    loaded: LoadedModel, input_ids: torch.Tensor, prefill_boundary: str, *, fast_attention: bool = False
) -> Prefilled:
    """Prefill equal-length, unpadded prompts [batch, seq] up to the boundary. Runs under whatever
    intervention is active; `fast_attention` switches to SDPA for this forward (only for a prefill
    nothing intervenes in or records)."""
    if prefill_boundary not in PREFILL_BOUNDARIES:
        raise ConfigError(f"prefill_boundary {prefill_boundary!r} is not one of {', '.join(PREFILL_BOUNDARIES)}")
    model = loaded.model
    ids = input_ids.to(model.device)
    batch, length = ids.shape
    split = prefill_boundary == "last_token_as_generation"
    if length < (2 if split else 1):
        raise DataError(f"a prompt of {length} token(s) is too short for prefill_boundary {prefill_boundary!r}")
    head = ids[:, :-1] if split else ids
    cache = DynamicCache(config=model.config)
    with attention_implementation(model, FAST_ATTENTION if fast_attention else None):
        logits = _forward(model, head, torch.arange(head.shape[1], device=ids.device)[None], cache)
    state = capture(model, cache, batch)
    position = torch.tensor([[head.shape[1]]], device=ids.device)
    if split:
        return Prefilled(state=state, logits=None, step_input=ids[:, -1:], position=position)
    return Prefilled(state=state, logits=logits, step_input=None, position=position)


@torch.inference_mode()
def branch(prefilled: Prefilled, index: torch.Tensor | list[int]) -> Prefilled:
    """Independent copies of rows `index` (a row may repeat): decoding one never touches another."""
    index = torch.as_tensor(index, dtype=torch.long)
    device = prefilled.position.device
    return Prefilled(
        state=select_rows(prefilled.state, index),
        logits=None if prefilled.logits is None else prefilled.logits.index_select(0, index.to(device)),
        step_input=None if prefilled.step_input is None else prefilled.step_input.index_select(0, index.to(device)),
        position=prefilled.position.clone(),
    )


@torch.inference_mode()
def decode(
    loaded: LoadedModel, start: Prefilled, max_new_tokens: int, *, step_logits: list | None = None
) -> list[list[int]]:
    """Greedy continuation of each row of `start` (consumed: decoding advances its tensors); rows stop
    at EOS (dropped) and are then fed EOS (cheaper than reshaping the cache) with their output frozen.
    `step_logits`, when given, receives each step's logits [rows, vocab] (tests compare them)."""
    if max_new_tokens < 1:
        raise DataError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    model = loaded.model
    cache = install(start.state)
    eos = eos_ids(loaded)
    batch = start.rows
    device = start.position.device
    outputs: list[list[int]] = [[] for _ in range(batch)]
    done = torch.zeros(batch, dtype=torch.bool, device=device)
    fill = torch.full((batch,), next(iter(sorted(eos))) if eos else 0, device=device)
    eos_tensor = torch.tensor(sorted(eos), device=device, dtype=torch.long)
    logits, step_input, position = start.logits, start.step_input, start.position
    for _ in range(max_new_tokens):
        if logits is None:
            logits = _forward(model, step_input, position, cache)
            position = position + 1
        if step_logits is not None:
            step_logits.append(logits.clone())
        token = torch.where(done, fill, logits.argmax(-1))
        finished = torch.isin(token, eos_tensor) & ~done
        for row in (~done & ~finished).nonzero().flatten().tolist():
            outputs[row].append(int(token[row]))
        done |= finished
        if bool(done.all()):
            break
        step_input, logits = token[:, None], None
    return outputs


def generate_greedy(
    loaded: LoadedModel,
    input_ids_batch: torch.Tensor,
    max_new_tokens: int,
    *,
    prefill_boundary: str = "whole_prompt",
    fast_attention: bool = False,
) -> list[list[int]]:
    """Greedy continuations of equal-length, unpadded prompts [batch, seq] (prefill, then decode)."""
    return decode(
        loaded,
        prefill(loaded, input_ids_batch, prefill_boundary, fast_attention=fast_attention),
        max_new_tokens,
    )
