"""The prefill boundary, one shared prefill per trial batch, branching state, SDPA prefill (tiny models)."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest
import torch
from test_evaluate import tiny_trials

from hybrid_retrieval.errors import ConfigError, InterventionError
from hybrid_retrieval.generation import decoding
from hybrid_retrieval.generation.decode_state import ModelState, capture
from hybrid_retrieval.generation.decoding import branch, decode, prefill, resolve_prefill_boundary
from hybrid_retrieval.interventions import InterventionSpec, apply_intervention
from hybrid_retrieval.jobs.evaluate import SORT_KEYS, run_conditions, run_retrieval

MAX_NEW = 5
BOUNDARIES = ("last_token_as_generation", "whole_prompt")
SHARED_SPECS = [
    InterventionSpec(kind="none"),
    InterventionSpec(kind="entropy_topk", k=1),
    InterventionSpec(kind="entropy_topk", k=0),
    InterventionSpec(kind="random_k", k=2, seed=3),
    InterventionSpec(kind="none", generation_mode="omit"),
]


def _batch(loaded, n=3):
    trials = [t for t in tiny_trials(loaded.tokenizer, lengths=(48,), replicates=2)][:n]
    assert len({len(t.input_ids) for t in trials}) == 1
    return trials, torch.tensor([t.input_ids for t in trials])


def _decode_logits(loaded, spec, trials, start) -> tuple[list[list[int]], list[torch.Tensor]]:
    logits: list[torch.Tensor] = []
    with apply_intervention(loaded, spec, needle_spans=[t.needle_spans for t in trials]):
        tokens = decode(loaded, start, MAX_NEW, step_logits=logits)
    return tokens, logits


# ---------------------------------------------------------------------------------------- the boundary


def test_authors_boundary_per_architecture(loaded_models) -> None:
    assert resolve_prefill_boundary("auto", loaded_models["recurrent_gemma"]) == "last_token_as_generation"
    assert resolve_prefill_boundary("auto", loaded_models["jamba"]) == "whole_prompt"
    assert resolve_prefill_boundary("whole_prompt", loaded_models["recurrent_gemma"]) == "whole_prompt"
    with pytest.raises(ConfigError, match="prefill_boundary"):
        resolve_prefill_boundary("half", loaded_models["jamba"])
    other = SimpleNamespace(name="m", model=SimpleNamespace(config=SimpleNamespace(model_type="llama")))
    with pytest.raises(ConfigError, match="models.m.prefill_boundary"):
        resolve_prefill_boundary("auto", other)


def test_config_default_is_auto_and_reaches_model_params() -> None:
    from hybrid_retrieval.config import load_config

    cfg = load_config(
        {
            "models": {
                "a": {"source": "toy", "arch": "recurrent_gemma"},
                "b": {"source": "toy", "arch": "jamba", "prefill_boundary": "last_token_as_generation"},
            },
            "retrieval": {"context_lengths": [256], "depths": [50]},
        }
    )
    assert cfg.model_params("a")["prefill_boundary"] == "auto"
    assert cfg.model_params("b")["prefill_boundary"] == "last_token_as_generation"
    with pytest.raises(ConfigError, match="prefill_boundary"):
        load_config(
            {
                "models": {"a": {"source": "toy", "arch": "jamba", "prefill_boundary": "last"}},
                "retrieval": {"context_lengths": [256], "depths": [50]},
            }
        )


def test_last_prompt_token_is_an_intervened_generation_step(loaded) -> None:
    """Under phase generation, k = 0: with the authors' RecurrentGemma boundary the first answer token
    comes from an intervened step (its logits differ from intact); with the whole prompt as prefill it
    is the intact prefill's (identical logits). The old decoder behaved like whole_prompt always."""
    trials, ids = _batch(loaded)
    k0 = InterventionSpec(kind="entropy_topk", k=0)
    phases: list[str] = []

    def record(layer_index, phase, *_):
        phases.append(phase)

    first: dict[tuple[str, str], torch.Tensor] = {}
    for boundary in BOUNDARIES:
        for name, spec in (("intact", InterventionSpec(kind="none")), ("k0", k0)):
            phases.clear()
            with apply_intervention(loaded, spec, needle_spans=[t.needle_spans for t in trials], recorder=record):
                start = prefill(loaded, ids, boundary)
                logits: list[torch.Tensor] = []
                decode(loaded, start, 1, step_logits=logits)
            first[boundary, name] = logits[0]
            if boundary == "last_token_as_generation":
                assert "generation" in phases  # the last prompt token, before any answer token
            else:
                assert set(phases) == {"prefill"}
    assert torch.equal(first["whole_prompt", "intact"], first["whole_prompt", "k0"])
    assert not torch.allclose(first["last_token_as_generation", "intact"], first["last_token_as_generation", "k0"])
    # intact, both boundaries compute the same function of the prompt (up to float rounding)
    torch.testing.assert_close(
        first["last_token_as_generation", "intact"], first["whole_prompt", "intact"], atol=1e-4, rtol=1e-4
    )


def test_rows_record_the_boundary_and_resume_only_matching_rows(loaded, tmp_path: Path) -> None:
    trials, _ = _batch(loaded)
    out = tmp_path / "r.parquet"
    k0 = InterventionSpec(kind="entropy_topk", k=0)
    common = dict(experiment="e", max_new_tokens=MAX_NEW, batch_size=4, out_path=out)
    whole = run_retrieval(loaded, trials, k0, prefill_boundary="whole_prompt", **common)
    assert whole["prefill_boundary"].unique().to_list() == ["whole_prompt"]
    last = run_retrieval(loaded, trials, k0, prefill_boundary="last_token_as_generation", **common)
    assert last["prefill_boundary"].unique().to_list() == ["last_token_as_generation"]
    assert pl.read_parquet(out).height == len(trials)  # the other boundary's rows were replaced


# ------------------------------------------------------------------------------------------ branching


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_every_branch_equals_a_fresh_prefill_and_decode_bit_for_bit(loaded, boundary) -> None:
    trials, ids = _batch(loaded)
    shared = prefill(loaded, ids, boundary, fast_attention=True)
    # rows reordered; branches decoded one after another from the one prefill. (The fresh prefill runs
    # the same prompts as one batch: a batch of another size may round the prefill's matmuls differently.)
    index = [2, 0, 1]
    picked = [trials[i] for i in index]
    branched = [_decode_logits(loaded, spec, picked, branch(shared, index)) for spec in SHARED_SPECS]
    for spec, (tokens, logits) in zip(SHARED_SPECS, branched, strict=True):
        fresh = prefill(loaded, ids[index], boundary, fast_attention=True)
        fresh_tokens, fresh_logits = _decode_logits(loaded, spec, picked, fresh)
        assert tokens == fresh_tokens
        assert len(logits) == len(fresh_logits)
        assert all(torch.equal(a, b) for a, b in zip(logits, fresh_logits, strict=True)), spec.label()
    twice = [trials[0], trials[0]]
    tokens, logits = _decode_logits(loaded, SHARED_SPECS[1], twice, branch(shared, [0, 0]))
    assert tokens[0] == tokens[1] and all(torch.equal(step[0], step[1]) for step in logits)


def test_deepcopy_of_the_cache_alone_does_not_branch_recurrent_gemma(loaded_models) -> None:
    """Why decode_state exists: RecurrentGemma keeps its recurrence on the modules, so deep copies of
    the cache share one state; the second copy starts where the first stopped."""
    loaded = loaded_models["recurrent_gemma"]
    trials, ids = _batch(loaded)
    shared = prefill(loaded, ids, "whole_prompt")
    spec = InterventionSpec(kind="none")
    fresh = _decode_logits(loaded, spec, trials, branch(shared, [0, 1, 2]))[1]

    def naive() -> decoding.Prefilled:
        state = ModelState(cache=copy.deepcopy(shared.state.cache), modules={}, rows=shared.rows)
        return decoding.Prefilled(state, shared.logits, shared.step_input, shared.position)

    first = _decode_logits(loaded, spec, trials, naive())[1]
    second = _decode_logits(loaded, spec, trials, naive())[1]
    assert torch.equal(first[0], fresh[0])  # step 0 comes from the prefill's logits
    assert not all(torch.equal(a, b) for a, b in zip(second[1:], fresh[1:], strict=False))


def test_capture_refuses_unknown_module_state(loaded) -> None:
    trials, ids = _batch(loaded)
    start = prefill(loaded, ids, "whole_prompt")
    module = loaded.model.get_output_embeddings()
    module.mystery_state = torch.zeros(len(trials), 4)
    try:
        with pytest.raises(InterventionError, match="mystery_state"):
            capture(loaded.model, start.state.cache, len(trials))
    finally:
        del module.mystery_state


# ------------------------------------------------------------------------------------- SDPA prefill


def test_fast_prefill_uses_sdpa_and_leaves_results_unchanged(loaded, tmp_path: Path) -> None:
    trials = tiny_trials(loaded.tokenizer, lengths=(48, 64), replicates=2)
    ids = torch.tensor([t.input_ids for t in trials if len(t.input_ids) == len(trials[0].input_ids)])
    seen: list[str] = []
    hook = loaded.model.register_forward_pre_hook(lambda m, a: seen.append(m.config._attn_implementation))
    try:
        fast = prefill(loaded, ids, "whole_prompt", fast_attention=True)
        slow = prefill(loaded, ids, "whole_prompt", fast_attention=False)
    finally:
        hook.remove()
    assert seen == ["sdpa", "eager"] and loaded.model.config._attn_implementation == "eager"
    torch.testing.assert_close(fast.logits, slow.logits, atol=1e-5, rtol=1e-5)

    specs = [InterventionSpec(kind="none"), InterventionSpec(kind="entropy_topk", k=1)]
    common = dict(experiment="e", max_new_tokens=MAX_NEW, batch_size=4, prefill_boundary="whole_prompt")
    a = run_conditions(loaded, trials, specs, out_path=tmp_path / "a.parquet", fast_prefill=True, **common)
    b = run_conditions(loaded, trials, specs, out_path=tmp_path / "b.parquet", fast_prefill=False, **common)
    assert a.equals(b)


# ------------------------------------------------------------------------- many conditions = one by one


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_conditions_together_equal_one_at_a_time(loaded, tmp_path: Path, boundary) -> None:
    trials = tiny_trials(loaded.tokenizer, lengths=(48, 64), replicates=2)
    specs = [*SHARED_SPECS, InterventionSpec(kind="entropy_topk", k=1, phase="all")]
    common = dict(experiment="e", max_new_tokens=MAX_NEW, batch_size=3, prefill_boundary=boundary)
    together = run_conditions(loaded, trials, specs, out_path=tmp_path / "t.parquet", **common)
    alone = pl.concat(
        [run_retrieval(loaded, trials, s, out_path=tmp_path / f"{i}.parquet", **common) for i, s in enumerate(specs)]
    ).sort(SORT_KEYS)
    assert together.height == len(trials) * len(specs)
    assert together.equals(alone)


# --------------------------------------------------------------------------- conditions as rows of one batch


def test_conditions_batched_as_rows_equal_separate_decodes(loaded) -> None:
    from hybrid_retrieval.interventions.row_interventions import apply_row_interventions

    trials, ids = _batch(loaded)
    shared = prefill(loaded, ids, "last_token_as_generation", fast_attention=True)
    separate = [_decode_logits(loaded, spec, trials, branch(shared, [0, 1, 2])) for spec in SHARED_SPECS]
    groups = [(spec, [t.needle_spans for t in trials]) for spec in SHARED_SPECS]
    logits: list[torch.Tensor] = []
    with apply_row_interventions(loaded, groups):
        tokens = decode(loaded, branch(shared, [0, 1, 2] * len(SHARED_SPECS)), MAX_NEW, step_logits=logits)
    n = len(trials)
    for g, (alone_tokens, alone_logits) in enumerate(separate):
        assert tokens[g * n : (g + 1) * n] == alone_tokens, SHARED_SPECS[g].label()
        for step, alone in zip(logits, alone_logits, strict=True):
            # the model's other layers run on a bigger batch: equal up to matmul rounding
            torch.testing.assert_close(step[g * n : (g + 1) * n], alone, atol=1e-5, rtol=1e-5)
    # the conditions really differ, so a mix-up of rows would show
    assert separate[0][0] != separate[2][0] or not torch.equal(separate[0][1][0], separate[2][1][0])
    with pytest.raises(InterventionError, match="rows"):
        with apply_row_interventions(loaded, groups[:2]):
            decode(loaded, branch(shared, [0, 1, 2] * 3), 1)


def test_row_chunks_pack_conditions_and_keep_mixer_ablations_alone() -> None:
    from hybrid_retrieval.jobs.evaluate import _row_chunks

    specs = [
        InterventionSpec(kind="none"),
        InterventionSpec(kind="entropy_topk", k=1),
        InterventionSpec(kind="mixer_ablation", layers=(0,)),
        InterventionSpec(kind="entropy_topk", k=2),
        InterventionSpec(kind="entropy_topk", k=3),
    ]
    users = [(s, s.spec_hash()) for s in specs]
    wanted = {h: [0, 1, 2] for _, h in users}
    chunks = _row_chunks(users, wanted, max_rows=6)
    assert [[s.kind for s, _ in c] for c in chunks] == [
        ["none", "entropy_topk"], ["mixer_ablation"], ["entropy_topk", "entropy_topk"]
    ]
    assert [len(c) for c in _row_chunks(users, wanted, max_rows=1)] == [1] * 5


def test_recordings_follow_the_prefill_boundary(loaded) -> None:
    from hybrid_retrieval.jobs.recording import record_attention

    trials, _ = _batch(loaded, n=1)
    spec = InterventionSpec(kind="entropy_topk", k=1)
    kept = {}
    for boundary in BOUNDARIES:
        df = record_attention(loaded, trials, spec, max_new_tokens=3, out_path=None, prefill_boundary=boundary)
        assert sorted(df["step"].unique()) == [0, 1, 2]
        per_step = df.group_by("step", "layer_index").agg(pl.col("kept").sum()).sort("step")
        kept[boundary] = per_step.filter(pl.col("step") == 0)["kept"].unique().to_list()
    heads = loaded.adapter.attention_layers(loaded.model)[0].num_heads
    assert kept["whole_prompt"] == [heads]  # step 0 = the intact prefill
    assert kept["last_token_as_generation"] == [1]  # step 0 = the last prompt token, a generation step
