"""apply_intervention on tiny random RecurrentGemma and Jamba models (the real transformers classes)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import torch
from transformers import DynamicCache

from conftest import make_tiny_model
from hybrid_retrieval.errors import InterventionError
from hybrid_retrieval.interventions import (
    ATTENTION_IMPLEMENTATION,
    InterventionSpec,
    apply_intervention,
    model_fields,
    validate_spec,
)
from hybrid_retrieval.models.loading import LoadedModel
from hybrid_retrieval.models.registry import get_adapter

SEQ = 12


def prompt_ids(batch: int = 2, seed: int = 0, length: int = SEQ) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, 48, (batch, length), generator=generator)
    ids[:, 0] = 2  # <bos>
    return ids


@torch.no_grad()
def logits(loaded: LoadedModel, ids: torch.Tensor) -> torch.Tensor:
    return loaded.model(ids, use_cache=False).logits


@torch.no_grad()
def prefill_then_steps(
    loaded: LoadedModel, ids: torch.Tensor, steps: int = 2, cache_kwarg: str = "cache"
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """A manual greedy loop with a cache: prefill logits and each generation step's logits."""
    cache = DynamicCache(config=loaded.model.config)
    out = loaded.model(ids, use_cache=True, **{cache_kwarg: cache})
    prefill = out.logits
    token = prefill[:, -1:].argmax(-1)
    step_logits = []
    for _ in range(steps):
        out = loaded.model(token, use_cache=True, **{cache_kwarg: cache})
        step_logits.append(out.logits[:, -1])
        token = out.logits[:, -1:].argmax(-1)
    return prefill, step_logits


@contextmanager
def o_proj_input_hooks(loaded: LoadedModel, keep: Callable[[int, int], bool]) -> Iterator[None]:
    """Reference ablation: zero head slices of each o_proj *input* with a forward pre-hook."""
    handles = []
    for layer in loaded.adapter.attention_layers(loaded.model):
        mask = torch.tensor([keep(layer.layer_index, h) for h in range(layer.num_heads)], dtype=torch.float32)

        def hook(module, args, mask=mask, layer=layer):
            (x,) = args  # [b, q, heads * head_dim]
            x = x.view(*x.shape[:-1], layer.num_heads, layer.head_dim) * mask[:, None]
            return (x.flatten(-2),)

        handles.append(layer.o_proj.register_forward_pre_hook(hook))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def num_heads(loaded: LoadedModel) -> int:
    return loaded.adapter.attention_layers(loaded.model)[0].num_heads


# --- no-op and full ablation ---------------------------------------------------------------------


def test_k_all_heads_equals_untouched_model(loaded: LoadedModel) -> None:
    ids = prompt_ids()
    base = logits(loaded, ids)
    for phase in ("all", "generation"):
        with apply_intervention(
            loaded, InterventionSpec(kind="entropy_topk", k=num_heads(loaded), phase=phase)
        ):
            assert torch.equal(logits(loaded, ids), base)
    with apply_intervention(loaded, InterventionSpec(kind="none")):
        assert torch.equal(logits(loaded, ids), base)
    base_prefill, base_steps = prefill_then_steps(loaded, ids)
    with apply_intervention(loaded, InterventionSpec(kind="entropy_topk", k=num_heads(loaded))):
        prefill, steps = prefill_then_steps(loaded, ids)
    assert torch.equal(prefill, base_prefill)
    assert all(torch.equal(a, b) for a, b in zip(steps, base_steps, strict=True))


def test_k_zero_equals_zeroing_o_proj_inputs(loaded: LoadedModel) -> None:
    ids = prompt_ids()
    with o_proj_input_hooks(loaded, lambda layer, head: False):
        reference = logits(loaded, ids)
    with apply_intervention(loaded, InterventionSpec(kind="entropy_topk", k=0, phase="all")):
        ablated = logits(loaded, ids)
    torch.testing.assert_close(ablated, reference, atol=1e-6, rtol=0)
    assert (ablated - logits(loaded, ids)).abs().max() > 1e-3  # the ablation matters in this model


def test_exposure_null_equals_k_zero(loaded: LoadedModel) -> None:
    # all attention weights zeroed == every head's output zeroed: two code paths, one answer
    ids = prompt_ids()
    with apply_intervention(loaded, InterventionSpec(kind="entropy_topk", k=0, phase="all")):
        ablated = logits(loaded, ids)
    spec = InterventionSpec(kind="none", generation_mode="null", prefill_mode="follow")
    with apply_intervention(loaded, spec, needle_spans=[[(1, 2)]] * 2):
        nulled = logits(loaded, ids)
    torch.testing.assert_close(nulled, ablated, atol=1e-6, rtol=0)


def test_layer_and_static_head_ablation_match_reference(loaded: LoadedModel) -> None:
    ids = prompt_ids()
    layers = [layer.layer_index for layer in loaded.adapter.attention_layers(loaded.model)]
    first = layers[0]
    with o_proj_input_hooks(loaded, lambda layer, head: layer != first):
        reference = logits(loaded, ids)
    with apply_intervention(loaded, InterventionSpec(kind="layer_ablation", layers=(first,), phase="all")):
        torch.testing.assert_close(logits(loaded, ids), reference, atol=1e-6, rtol=0)

    kept = {(first, 1), (layers[-1], 0), (layers[-1], 3)}
    with o_proj_input_hooks(loaded, lambda layer, head: (layer, head) in kept):
        reference = logits(loaded, ids)
    with apply_intervention(loaded, InterventionSpec(kind="static_heads", heads=tuple(kept), phase="all")):
        torch.testing.assert_close(logits(loaded, ids), reference, atol=1e-6, rtol=0)


def test_mixer_ablation_matches_forward_hook_reference(loaded: LoadedModel) -> None:
    ids = prompt_ids()
    mixer = loaded.adapter.mixer_layers(loaded.model)[0]

    def zero(module, args, output):
        return (
            (torch.zeros_like(output[0]), *output[1:])
            if isinstance(output, tuple)
            else torch.zeros_like(output)
        )

    handle = mixer.module.register_forward_hook(zero)
    try:
        reference = logits(loaded, ids)
    finally:
        handle.remove()
    spec = InterventionSpec(kind="mixer_ablation", layers=(mixer.layer_index,), phase="all")
    with apply_intervention(loaded, spec):
        ablated = logits(loaded, ids)
    assert torch.equal(ablated, reference)
    assert not torch.equal(ablated, logits(loaded, ids))
    # generation phase: prefill untouched, generation steps changed
    base_prefill, base_steps = prefill_then_steps(loaded, ids)
    with apply_intervention(loaded, InterventionSpec(kind="mixer_ablation", layers=(mixer.layer_index,))):
        prefill, steps = prefill_then_steps(loaded, ids)
    assert torch.equal(prefill, base_prefill)
    assert not torch.allclose(steps[0], base_steps[0])


# --- phases --------------------------------------------------------------------------------------


@pytest.mark.parametrize("cache_kwarg", ["cache", "past_key_values"])
def test_generation_only_leaves_prefill_unchanged(loaded: LoadedModel, cache_kwarg: str) -> None:
    ids = prompt_ids()
    base_prefill, base_steps = prefill_then_steps(loaded, ids, cache_kwarg=cache_kwarg)
    with apply_intervention(loaded, InterventionSpec(kind="entropy_topk", k=1)):
        prefill, steps = prefill_then_steps(loaded, ids, cache_kwarg=cache_kwarg)
    assert torch.equal(prefill, base_prefill)
    assert (steps[0] - base_steps[0]).abs().max() > 1e-3
    with apply_intervention(loaded, InterventionSpec(kind="entropy_topk", k=1, phase="all")):
        prefill_all, _ = prefill_then_steps(loaded, ids, cache_kwarg=cache_kwarg)
    assert (prefill_all - base_prefill).abs().max() > 1e-3


def test_phase_detection_with_generate(loaded: LoadedModel) -> None:
    ids = prompt_ids()
    phases: list[tuple[str, int]] = []

    def recorder(layer_index, phase, entropy, kept, needle_mass):
        phases.append((phase, entropy.shape[-1]))

    with torch.no_grad():
        base = loaded.model.generate(
            ids, max_new_tokens=3, do_sample=False, output_logits=True, return_dict_in_generate=True
        )
        with apply_intervention(loaded, InterventionSpec(kind="entropy_topk", k=0), recorder=recorder):
            ablated = loaded.model.generate(
                ids, max_new_tokens=3, do_sample=False, output_logits=True, return_dict_in_generate=True
            )
    n_attention = len(loaded.adapter.attention_layers(loaded.model))
    # one prefill call over the prompt, then two single-token generation steps, per attention layer
    assert phases == [("prefill", SEQ)] * n_attention + [("generation", 1)] * (2 * n_attention)
    assert torch.equal(ablated.logits[0], base.logits[0])  # first token comes from the untouched prefill
    assert not torch.allclose(ablated.logits[1], base.logits[1])


# --- restoring the model -------------------------------------------------------------------------


def _forward_hook_counts(loaded: LoadedModel) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in loaded.model.modules())


def test_model_restored_after_exit_and_after_error(loaded: LoadedModel) -> None:
    ids = prompt_ids()
    before = logits(loaded, ids)
    hooks = _forward_hook_counts(loaded)
    spec = InterventionSpec(
        kind="mixer_ablation", layers=(loaded.adapter.mixer_layers(loaded.model)[0].layer_index,), phase="all"
    )
    with apply_intervention(loaded, spec):
        assert loaded.model.config._attn_implementation == ATTENTION_IMPLEMENTATION
        assert _forward_hook_counts(loaded) > hooks
    assert loaded.model.config._attn_implementation == "eager"
    assert _forward_hook_counts(loaded) == hooks
    assert torch.equal(logits(loaded, ids), before)

    with pytest.raises(RuntimeError, match="boom"):
        with apply_intervention(loaded, InterventionSpec(kind="entropy_topk", k=0, phase="all")):
            logits(loaded, ids)
            raise RuntimeError("boom")
    assert loaded.model.config._attn_implementation == "eager"
    assert all(
        layer.module.config._attn_implementation == "eager"
        for layer in loaded.adapter.attention_layers(loaded.model)
    )
    assert _forward_hook_counts(loaded) == hooks
    assert torch.equal(logits(loaded, ids), before)
    # an error raised inside the forward (wrong number of needle rows) restores the model too
    spec = InterventionSpec(kind="none", generation_mode="omit", prefill_mode="follow")
    with pytest.raises(InterventionError, match="needle_spans has 1 rows but the batch has 2"):
        with apply_intervention(loaded, spec, needle_spans=[[(1, 3)]]):
            logits(loaded, ids)
    assert torch.equal(logits(loaded, ids), before)


def test_nested_interventions_refused(loaded: LoadedModel) -> None:
    with apply_intervention(loaded, InterventionSpec(kind="none")):
        with pytest.raises(InterventionError, match="already active"):
            with apply_intervention(loaded, InterventionSpec(kind="none")):
                pass


# --- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (InterventionSpec(kind="entropy_topk", k=5), r"k=5 .*0\.\.4"),
        (InterventionSpec(kind="random_k", k=-1), r"k=-1 .*0\.\.4"),
        (InterventionSpec(kind="layer_ablation", layers=(0,)), r"layer 0 is not an attention layer.*\[1, "),
        (InterventionSpec(kind="layer_ablation", layers=(99,)), "layer 99"),
        (InterventionSpec(kind="static_heads", heads=((1, 4),)), r"head must be in 0\.\.3"),
        (InterventionSpec(kind="static_heads", heads=((0, 0),)), "layer 0 is not an attention layer"),
        (InterventionSpec(kind="mixer_ablation", layers=(1,)), r"layer 1 is not an SSM/recurrent.*\[0"),
    ],
)
def test_validate_spec_errors(loaded: LoadedModel, spec: InterventionSpec, message: str) -> None:
    with pytest.raises(InterventionError, match=message):
        validate_spec(spec, loaded)
    with pytest.raises(InterventionError, match=message):
        with apply_intervention(loaded, spec):
            pass
    assert loaded.model.config._attn_implementation == "eager"


def test_exposure_needs_needle_spans(loaded: LoadedModel) -> None:
    spec = InterventionSpec(kind="none", generation_mode="omit")
    validate_spec(spec, loaded)  # the spec itself is fine for this model
    with pytest.raises(InterventionError, match="need needle_spans"):
        with apply_intervention(loaded, spec):
            pass
    with pytest.raises(InterventionError, match=r"\(3, 3\)"):
        with apply_intervention(loaded, spec, needle_spans=[[(3, 3)]]):
            pass


def test_model_fields(loaded: LoadedModel) -> None:
    fields = model_fields(InterventionSpec(kind="entropy_topk", k=1), loaded)
    windows = [layer.window for layer in loaded.adapter.attention_layers(loaded.model) if layer.window]
    assert fields == {"num_heads": 4, "kept_fraction": 0.25, "attention_window": min(windows, default=None)}
    assert model_fields(InterventionSpec(kind="none"), loaded)["kept_fraction"] == 1.0
    first = loaded.adapter.attention_layers(loaded.model)[0].layer_index
    assert (
        model_fields(InterventionSpec(kind="layer_ablation", layers=(first,)), loaded)["kept_fraction"] == 0.5
    )


# --- recorder, random-k, exposure ----------------------------------------------------------------


def test_recorder_shapes_and_topk_counts(loaded: LoadedModel) -> None:
    ids = prompt_ids()
    records = []
    with apply_intervention(
        loaded,
        InterventionSpec(kind="entropy_topk", k=2, phase="all"),
        needle_spans=[[(3, 5)]] * 2,
        recorder=lambda *args: records.append(args),
    ):
        logits(loaded, ids)
    assert [r[0] for r in records] == [
        layer.layer_index for layer in loaded.adapter.attention_layers(loaded.model)
    ]
    for _, phase, entropy, kept, mass in records:
        assert phase == "prefill"
        assert entropy.shape == kept.shape == mass.shape == (2, 4, SEQ)
        assert (kept.sum(dim=1) == 2).all()
        # kept heads are the most peaked ones
        assert (entropy.masked_fill(~kept, -1).amax(dim=1) <= entropy.masked_fill(kept, 99).amin(dim=1)).all()
        assert (mass[..., :3] == 0).all()  # queries before the needle cannot see it (causal)
        assert (mass[..., 3:] > 0).all()


def test_random_k_is_seeded_and_keeps_k(loaded: LoadedModel) -> None:
    ids = prompt_ids()

    def kept_masks(seed: int) -> list[torch.Tensor]:
        records = []
        spec = InterventionSpec(kind="random_k", k=2, phase="all", seed=seed)
        with apply_intervention(loaded, spec, recorder=lambda *a: records.append(a[3])):
            logits(loaded, ids)
        return records

    first, again, other = kept_masks(0), kept_masks(0), kept_masks(1)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))
    for kept in first:
        assert (kept.sum(dim=1) == 2).all()
        assert torch.equal(kept[0], kept[1])  # per position, not per batch row
        assert len({tuple(kept[0, :, q].tolist()) for q in range(SEQ)}) > 1  # chosen afresh per position


def test_omit_changes_generation_and_keeps_prefill(loaded: LoadedModel) -> None:
    ids = prompt_ids()
    spans = [[(2, 6)], [(5, 9)]]
    base_prefill, base_steps = prefill_then_steps(loaded, ids)
    with apply_intervention(
        loaded, InterventionSpec(kind="none", generation_mode="omit"), needle_spans=spans
    ):
        prefill, steps = prefill_then_steps(loaded, ids)
    assert torch.equal(prefill, base_prefill)
    assert not torch.allclose(steps[0], base_steps[0])
    # a needle no key can reach (beyond the sequence) changes nothing; `only` over every token neither
    base = logits(loaded, ids)
    for mode, spans in (("omit", [[(500, 510)]] * 2), ("only", [[(0, 100)]] * 2)):
        spec = InterventionSpec(kind="none", generation_mode=mode, prefill_mode="follow")
        with apply_intervention(loaded, spec, needle_spans=spans):
            assert torch.equal(logits(loaded, ids), base), mode


@pytest.mark.parametrize(
    "spec",
    [
        InterventionSpec(kind="entropy_topk", k=2, phase="all"),
        InterventionSpec(kind="random_k", k=1, phase="all", seed=3),
        InterventionSpec(kind="none", generation_mode="balanced", prefill_mode="omit"),
    ],
    ids=lambda spec: spec.label(),
)
def test_batched_equals_one_at_a_time(loaded: LoadedModel, spec: InterventionSpec) -> None:
    ids = prompt_ids(batch=3, seed=5)
    spans = [[(1, 3)], [(4, 7)], [(2, 3), (8, 10)]]
    with apply_intervention(loaded, spec, needle_spans=spans):
        batched_prefill, batched_steps = prefill_then_steps(loaded, ids)
    for row in range(3):
        with apply_intervention(loaded, spec, needle_spans=[spans[row]]):
            prefill, steps = prefill_then_steps(loaded, ids[row : row + 1])
        torch.testing.assert_close(prefill, batched_prefill[row : row + 1], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(steps[-1], batched_steps[-1][row : row + 1], atol=1e-5, rtol=1e-5)


# --- RecurrentGemma's local attention window -----------------------------------------------------

WINDOW = 4


@pytest.fixture(scope="module")
def windowed_rg() -> LoadedModel:
    """A RecurrentGemma with one attention block only (no recurrence), window 4: the last position's
    logits can depend only on the last 4 tokens."""
    model = make_tiny_model(
        "recurrent_gemma", num_hidden_layers=1, block_types=["attention"], attention_window_size=WINDOW
    )
    return LoadedModel(
        model=model, tokenizer=None, adapter=get_adapter(model), name="rg-window", revision="test"
    )


def test_recurrent_gemma_honours_window(windowed_rg: LoadedModel) -> None:
    ids = prompt_ids(batch=1, length=10)
    base = logits(windowed_rg, ids)[0, -1]
    outside, inside = ids.clone(), ids.clone()
    outside[0, 10 - WINDOW - 1] = 47 if ids[0, 10 - WINDOW - 1] != 47 else 46  # just beyond the window
    inside[0, 10 - WINDOW] = 47 if ids[0, 10 - WINDOW] != 47 else 46  # oldest token inside the window
    assert torch.equal(logits(windowed_rg, outside)[0, -1], base)
    assert not torch.allclose(logits(windowed_rg, inside)[0, -1], base)
    with apply_intervention(windowed_rg, InterventionSpec(kind="entropy_topk", k=2, phase="all")):
        base_sparse = logits(windowed_rg, ids)[0, -1]
        assert torch.equal(logits(windowed_rg, outside)[0, -1], base_sparse)
        assert not torch.allclose(logits(windowed_rg, inside)[0, -1], base_sparse)


def _needle_mass_at_last_query(loaded: LoadedModel, ids: torch.Tensor, span: tuple[int, int], cached: bool):
    masses = []

    def recorder(layer_index, phase, entropy, kept, needle_mass):
        masses.append((phase, needle_mass[..., -1]))

    with apply_intervention(loaded, InterventionSpec(kind="none"), needle_spans=[[span]], recorder=recorder):
        if cached:
            prefill_then_steps_from(loaded, ids)
        else:
            logits(loaded, ids)
    return masses[-1]


@torch.no_grad()
def prefill_then_steps_from(loaded: LoadedModel, ids: torch.Tensor) -> None:
    """Prefill all but the last token, then feed the last one as a generation step."""
    cache = DynamicCache(config=loaded.model.config)
    loaded.model(ids[:, :-1], use_cache=True, cache=cache)
    loaded.model(ids[:, -1:], use_cache=True, cache=cache)


def test_keys_beyond_window_get_zero_probability_and_cache_mapping(windowed_rg: LoadedModel) -> None:
    length = 10
    ids = prompt_ids(batch=1, length=length)
    last = length - 1
    for cached in (False, True):
        phase, beyond = _needle_mass_at_last_query(windowed_rg, ids, (0, last - WINDOW + 1), cached)
        assert phase == ("generation" if cached else "prefill")
        assert (beyond == 0).all()  # every position outside the window: no attention at all
        _, oldest = _needle_mass_at_last_query(
            windowed_rg, ids, (last - WINDOW + 1, last - WINDOW + 2), cached
        )
        assert (oldest > 0).all()
    # The generation step sees only the cached window (4 keys for 10 positions): its needle mass per
    # position must equal the full-sequence computation, which proves key index -> position mapping.
    for position in range(last - WINDOW + 1, length):
        _, full = _needle_mass_at_last_query(windowed_rg, ids, (position, position + 1), cached=False)
        _, step = _needle_mass_at_last_query(windowed_rg, ids, (position, position + 1), cached=True)
        torch.testing.assert_close(step, full, atol=1e-6, rtol=1e-5)


def test_query_chunking_gives_the_same_result(loaded: LoadedModel, monkeypatch: pytest.MonkeyPatch) -> None:
    # Long prompts are processed in query chunks to bound eager memory; force tiny chunks here.
    from hybrid_retrieval import interventions

    ids = prompt_ids()
    spec = InterventionSpec(
        kind="entropy_topk", k=2, phase="all", generation_mode="omit", prefill_mode="balanced"
    )
    spans = [[(2, 5)], [(6, 8)]]
    records: list[list] = [[], []]
    with apply_intervention(loaded, spec, needle_spans=spans, recorder=lambda *a: records[0].append(a)):
        whole = logits(loaded, ids)
    monkeypatch.setattr(interventions, "_SCORE_ELEMENTS_PER_CHUNK", 2 * 4 * SEQ * 5)  # 5 queries per chunk
    with apply_intervention(loaded, spec, needle_spans=spans, recorder=lambda *a: records[1].append(a)):
        chunked = logits(loaded, ids)
    torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=1e-5)
    for one, other in zip(*records, strict=True):
        assert torch.equal(one[3], other[3])  # same heads kept
        torch.testing.assert_close(one[4], other[4])


@torch.no_grad()
def _step_logits(loaded: LoadedModel, ids: torch.Tensor, spec: InterventionSpec, span) -> torch.Tensor:
    """Logits of the last token fed as a cached generation step after a prefill of the rest."""
    cache = DynamicCache(config=loaded.model.config)
    with apply_intervention(loaded, spec, needle_spans=[[span]]):
        loaded.model(ids[:, :-1], use_cache=True, cache=cache)
        return loaded.model(ids[:, -1:], use_cache=True, cache=cache).logits[0, -1]


def test_needle_out_of_window_at_a_generation_step_authors_leave_it_ours_zero_it(windowed_rg) -> None:
    ids = prompt_ids(batch=1, length=10)
    out_of_window = (0, 2)  # positions 0-1: the step at position 9 sees 6..9 only
    keep = _step_logits(windowed_rg, ids, InterventionSpec(kind="none"), out_of_window)
    for mode in ("null", "only", "balanced"):
        authors = _step_logits(windowed_rg, ids, InterventionSpec(kind="none", generation_mode=mode), out_of_window)
        assert torch.equal(authors, keep), mode  # no needle key in reach: the step runs as keep
        ours = InterventionSpec(kind="none", generation_mode=mode, exposure_rule="per_head_causal")
        assert not torch.allclose(_step_logits(windowed_rg, ids, ours, out_of_window), keep), mode
    # in reach, the authors' null acts
    null = InterventionSpec(kind="none", generation_mode="null")
    assert not torch.allclose(_step_logits(windowed_rg, ids, null, (7, 8)), keep)


def test_authors_balanced_prefill_sums_over_every_query_chunk(loaded, monkeypatch) -> None:
    # Their prefill scalar sums over all queries of the call: chunking the queries must not change it.
    import hybrid_retrieval.interventions as interventions

    ids = prompt_ids(batch=1, length=12)
    spec = InterventionSpec(kind="none", prefill_mode="balanced")
    with apply_intervention(loaded, spec, needle_spans=[[(4, 6)]]):
        whole = logits(loaded, ids)
    monkeypatch.setattr(interventions, "_SCORE_ELEMENTS_PER_CHUNK", 1)
    with apply_intervention(loaded, spec, needle_spans=[[(4, 6)]]):
        chunked = logits(loaded, ids)
    torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=1e-5)
    ours = InterventionSpec(kind="none", prefill_mode="balanced", exposure_rule="per_head_causal")
    with apply_intervention(loaded, ours, needle_spans=[[(4, 6)]]):
        assert not torch.allclose(logits(loaded, ids), whole)


def test_l2_head_score_keeps_k_heads_per_query(loaded) -> None:
    ids = prompt_ids(batch=1, length=12)
    kept_counts = []

    def recorder(layer_index, phase, entropy, kept, needle_mass):
        kept_counts.append(kept.sum(dim=1))

    spec = InterventionSpec(kind="entropy_topk", k=1, phase="all", head_score="l2")
    with apply_intervention(loaded, spec, recorder=recorder):
        logits(loaded, ids)
    assert kept_counts and all(bool((c == 1).all()) for c in kept_counts)
