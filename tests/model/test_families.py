"""Every built-in hybrid family on a tiny random model of its real transformers class, against references
computed without the package's interventions:

- k = H (every head kept) leaves logits bit-identical to the untouched model, in prefill and generation;
- k = 0 equals weight surgery (the attention output projection's head columns zeroed): in generation (an
  untouched prefill, then decode steps on the surgered copy) and with phase all (everything surgered), for
  both prefill boundaries, decoded by the package from a branched prefill and by the reference from a
  fresh one;
- a branched prefill decodes like a fresh one; exposure "null" equals k = 0 in generation;
- ablating one attention layer equals surgery on that layer alone (a pre-hook zeroing that depth's
  projection input where the weight is shared across depths: Zamba, Zamba2);
- the canary passes the family's adapter and stops a broken one (attention read from the wrong cache entry,
  so generation steps look like prefill and k = 0 in generation silently does nothing).

The models are tiny (hidden 32, 4 heads, 2 KV heads where the family allows, 2 to 5 layers, vocabulary 48):
a few seconds per family on one CPU core, float32 (k = H and k = 0 in generation also in bfloat16).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from types import SimpleNamespace

import pytest
import torch
import transformers as tf

from conftest import VOCAB_SIZE, _sharpen_attention
from hybrid_retrieval.generation.decoding import branch, decode, prefill
from hybrid_retrieval.interventions import InterventionSpec, apply_intervention
from hybrid_retrieval.jobs.canary import CanaryError, check_interventions
from hybrid_retrieval.models.base import AttentionLayer
from hybrid_retrieval.models.loading import LoadedModel
from hybrid_retrieval.models.registry import BUILTIN_ADAPTERS, get_adapter

COMMON = dict(
    vocab_size=VOCAB_SIZE, hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
    pad_token_id=0, eos_token_id=1, bos_token_id=2,
)  # fmt: skip
MHA = {**COMMON, "num_key_value_heads": 4}  # families whose attention has no GQA (Zamba) or MLA
ALTERNATING = ["linear_attention", "full_attention"] * 2
MLA = dict(kv_lora_rank=8, qk_rope_head_dim=4, qk_nope_head_dim=8, v_head_dim=8, num_local_experts=2)
MLA |= dict(num_experts_per_tok=1, moe_intermediate_size=32, mlp_layer_types=["dense"] * 4)
SSM = dict(mamba_n_heads=4, mamba_d_head=8, mamba_d_state=4, mamba_chunk_size=4, mamba_expand=1)

# family -> (config class, causal-LM class, config settings); attention/mixer layer indices are asserted below.
TINY = {
    "zamba": (tf.ZambaConfig, tf.ZambaForCausalLM, dict(
        MHA, num_hidden_layers=5, attn_layer_period=2, attn_layer_offset=1, n_mamba_heads=1, mamba_d_state=4,
        mamba_expand=1)),  # two hybrid depths: transformers 5.24 cannot tie a single one
    "zamba2": (tf.Zamba2Config, tf.Zamba2ForCausalLM, dict(
        MHA, num_hidden_layers=4, layers_block_type=["mamba", "hybrid", "mamba", "hybrid"], mamba_d_state=4,
        n_mamba_heads=2, mamba_expand=1, chunk_size=4, adapter_rank=4, use_shared_attention_adapter=True)),
    "bamba": (tf.BambaConfig, tf.BambaForCausalLM, dict(COMMON, num_hidden_layers=4, attn_layer_indices=[1, 3], **SSM)),
    "falcon_h1": (tf.FalconH1Config, tf.FalconH1ForCausalLM, dict(COMMON, num_hidden_layers=2, mamba_d_ssm=32, **SSM)),
    "granitemoehybrid": (tf.GraniteMoeHybridConfig, tf.GraniteMoeHybridForCausalLM, dict(
        COMMON, num_hidden_layers=4, layer_types=["mamba", "attention"] * 2, num_local_experts=2,
        num_experts_per_tok=1, shared_intermediate_size=32, attention_multiplier=0.3, **SSM)),
    "nemotron_h": (tf.NemotronHConfig, tf.NemotronHForCausalLM, dict(
        COMMON, layers_block_type=["mamba", "attention", "mlp", "mamba", "attention"], head_dim=8,
        ssm_state_size=4, mamba_num_heads=4, mamba_head_dim=8, n_groups=1, chunk_size=4, expand=1)),
    "qwen3_next": (tf.Qwen3NextConfig, tf.Qwen3NextForCausalLM, dict(
        COMMON, num_hidden_layers=4, layer_types=ALTERNATING, head_dim=8, linear_key_head_dim=8,
        linear_value_head_dim=8, linear_num_key_heads=2, linear_num_value_heads=4, num_experts=2,
        num_experts_per_tok=1, moe_intermediate_size=32, shared_expert_intermediate_size=32)),
    "qwen3_5": (tf.Qwen3_5TextConfig, tf.Qwen3_5ForCausalLM, dict(
        COMMON, num_hidden_layers=4, layer_types=ALTERNATING, head_dim=8, linear_key_head_dim=8,
        linear_value_head_dim=8, linear_num_key_heads=2, linear_num_value_heads=4)),
    "lfm2": (tf.Lfm2Config, tf.Lfm2ForCausalLM, dict(
        COMMON, num_hidden_layers=4, layer_types=["conv", "full_attention"] * 2, block_auto_adjust_ff_dim=False)),
    "lfm2_moe": (tf.Lfm2MoeConfig, tf.Lfm2MoeForCausalLM, dict(
        COMMON, num_hidden_layers=4, layer_types=["conv", "full_attention"] * 2, num_dense_layers=1, num_experts=2,
        num_experts_per_tok=1, moe_intermediate_size=32)),
    "qwen3_5_moe": (tf.Qwen3_5MoeTextConfig, tf.Qwen3_5MoeForCausalLM, dict(
        COMMON, num_hidden_layers=4, layer_types=ALTERNATING, head_dim=8, linear_key_head_dim=8,
        linear_value_head_dim=8, linear_num_key_heads=2, linear_num_value_heads=4, num_experts=2,
        num_experts_per_tok=1, moe_intermediate_size=32, shared_expert_intermediate_size=32)),
    "lfm3": (tf.Lfm3Config, tf.Lfm3ForCausalLM, dict(
        COMMON, num_hidden_layers=4, layer_types=["conv", "full_attention", "conv", "sliding_attention"],
        head_dim=8, sliding_window=5)),  # a 12-token prompt runs past the window in both phases
    "olmo_hybrid": (tf.OlmoHybridConfig, tf.OlmoHybridForCausalLM, dict(
        COMMON, num_hidden_layers=4, layer_types=ALTERNATING, linear_num_key_heads=2, linear_num_value_heads=2,
        linear_key_head_dim=8, linear_value_head_dim=8)),
    "kimi_linear": (tf.KimiLinearConfig, tf.KimiLinearForCausalLM, dict(
        MHA, num_hidden_layers=4, layer_types=ALTERNATING, linear_head_dim=8, linear_num_heads=4, **MLA)),
    "bailing_hybrid": (tf.BailingHybridConfig, tf.BailingHybridForCausalLM, dict(
        MHA, num_hidden_layers=4, layer_types=ALTERNATING, head_dim=8, n_group=1, topk_group=1,
        first_k_dense_replace=4, num_mtp_layers=0, **MLA)),
}  # fmt: skip
# family -> attention layer indices, mixer layer indices, (heads, KV heads, head_dim), windows
LAYOUT = {
    "zamba": ([2, 4], [0, 1, 2, 3, 4], (4, 4, 16), {None}),  # head_dim 2 * hidden / heads (concat input)
    "zamba2": ([1, 3], [0, 1, 2, 3], (4, 4, 16), {None}),
    "bamba": ([1, 3], [0, 2], (4, 2, 8), {None}),
    "falcon_h1": ([0, 1], [0, 1], (4, 2, 8), {None}),  # parallel: both in every layer
    "granitemoehybrid": ([1, 3], [0, 2], (4, 2, 8), {None}),
    "nemotron_h": ([1, 4], [0, 3], (4, 2, 8), {None}),  # layer 2 is an MLP block
    "qwen3_next": ([1, 3], [0, 2], (4, 2, 8), {None}),
    "qwen3_5": ([1, 3], [0, 2], (4, 2, 8), {None}),
    "lfm2": ([1, 3], [0, 2], (4, 2, 8), {None}),
    "lfm2_moe": ([1, 3], [0, 2], (4, 2, 8), {None}),
    "qwen3_5_moe": ([1, 3], [0, 2], (4, 2, 8), {None}),
    "lfm3": ([1, 3], [0, 2], (4, 2, 8), {None, 5}),
    "olmo_hybrid": ([1, 3], [0, 2], (4, 2, 8), {None}),
    "kimi_linear": ([1, 3], [0, 2], (4, 4, 8), {None}),  # MLA: v_head_dim 8, q/k 8 + 4
    "bailing_hybrid": ([1, 3], [0, 2], (4, 4, 8), {None}),
}
FAMILIES = sorted(TINY)
BOUNDARIES = ("whole_prompt", "last_token_as_generation")
PROMPT = torch.tensor([[2, 7, 19, 4, 33, 12, 40, 5, 27, 9, 16, 30]])
STEPS = 4


def test_every_builtin_family_has_a_tiny_model() -> None:
    families = {get_adapter(t).model_type for t in BUILTIN_ADAPTERS} - {"recurrent_gemma", "jamba"}
    assert families == set(TINY)  # recurrent_gemma and jamba: tests/conftest.py (every model test)


@functools.cache
def tiny(family: str) -> LoadedModel:
    config_class, model_class, settings = TINY[family]
    torch.manual_seed(0)
    model = model_class(config_class(**settings, attn_implementation="eager"))
    _sharpen_attention(model, 0)
    model.eval()
    model.generation_config.eos_token_id = None  # decode every step (no EOS stop)
    tokenizer = SimpleNamespace(eos_token_id=None)
    return LoadedModel(
        model=model, tokenizer=tokenizer, adapter=get_adapter(model), name=f"tiny-{family}", revision="t"
    )  # type: ignore[arg-type]


def _attention(loaded: LoadedModel) -> list[AttentionLayer]:
    return loaded.adapter.attention_layers(loaded.model)


def surgery(loaded: LoadedModel, layer_indices: list[int]) -> torch.nn.Module:
    """A copy of the model with the given attention layers' output-projection head columns zeroed: the
    weight itself, or, where that weight is shared with an attention layer left alone (Zamba's tied
    block), a pre-hook zeroing that depth's projection input. Nothing of the package's interventions."""
    model = copy.deepcopy(loaded.model)
    layers = loaded.adapter.attention_layers(model)
    chosen = [a for a in layers if a.layer_index in layer_indices]
    others = {id(a.o_proj.weight) for a in layers if a.layer_index not in layer_indices}
    with torch.no_grad():
        for layer in chosen:
            if id(layer.o_proj.weight) in others:
                layer.o_proj.register_forward_pre_hook(lambda _m, args: (torch.zeros_like(args[0]),))
            else:
                layer.o_proj.weight[:, : layer.num_heads * layer.head_dim] = 0.0
    return model


@torch.inference_mode()
def reference(loaded: LoadedModel, prefill_model, step_model, boundary: str) -> list[torch.Tensor]:
    """Greedy step logits from a fresh prefill on `prefill_model`, the steps on `step_model` (one cache)."""
    cache = tf.DynamicCache(config=loaded.model.config)
    split = boundary == "last_token_as_generation"
    head = PROMPT[:, :-1] if split else PROMPT
    out = prefill_model(
        input_ids=head, position_ids=torch.arange(head.shape[1])[None], cache=cache, logits_to_keep=1
    )
    logits, step, position = (
        (None, PROMPT[:, -1:], head.shape[1]) if split else (out.logits[:, -1], None, head.shape[1])
    )
    steps = []
    for _ in range(STEPS):
        if logits is None:
            out = step_model(
                input_ids=step, position_ids=torch.tensor([[position]]), cache=cache, logits_to_keep=1
            )
            logits, position = out.logits[:, -1], position + 1
        steps.append(logits)
        step, logits = logits.argmax(-1, keepdim=True), None
    return steps


def package(
    loaded: LoadedModel, spec: InterventionSpec | None, boundary: str, **kwargs
) -> list[torch.Tensor]:
    """Step logits of the package's decoding loop, from a branch of a prefill run under `spec`."""
    steps: list[torch.Tensor] = []

    def run() -> None:
        start = prefill(loaded, PROMPT, boundary)
        decode(loaded, branch(start, [0]), STEPS, step_logits=steps)

    if spec is None:
        run()
    else:
        with apply_intervention(loaded, spec, **kwargs):
            run()
    return steps


def _equal(got: list[torch.Tensor], want: list[torch.Tensor]) -> bool:
    return len(got) == len(want) and all(torch.equal(g, w) for g, w in zip(got, want, strict=True))


def _k(k: int, phase: str) -> InterventionSpec:
    return InterventionSpec(kind="entropy_topk", k=k, phase=phase)


@pytest.mark.parametrize("family", FAMILIES)
def test_layout(family: str) -> None:
    loaded = tiny(family)
    attention, mixers, heads, windows = LAYOUT[family]
    layers = _attention(loaded)
    assert [a.layer_index for a in layers] == attention
    assert [m.layer_index for m in loaded.adapter.mixer_layers(loaded.model)] == mixers
    assert {(a.num_heads, a.num_kv_heads, a.head_dim) for a in layers} == {heads}
    assert {a.window for a in layers} == windows
    assert all(a.o_proj.in_features == a.num_heads * a.head_dim for a in layers)


@pytest.mark.parametrize("family", FAMILIES)
def test_keep_all_heads_is_identity(family: str) -> None:
    loaded = tiny(family)
    for boundary in BOUNDARIES:
        untouched = package(loaded, None, boundary)
        assert _equal(package(loaded, _k(4, "all"), boundary), untouched)
        assert _equal(package(loaded, _k(4, "generation"), boundary), untouched)
        assert _equal(reference(loaded, loaded.model, loaded.model, boundary), untouched)  # branched == fresh


@pytest.mark.parametrize("family", FAMILIES)
def test_k0_equals_weight_surgery(family: str) -> None:
    loaded = tiny(family)
    cut = surgery(loaded, [a.layer_index for a in _attention(loaded)])
    generation = {}
    for boundary in BOUNDARIES:
        generation[boundary] = package(loaded, _k(0, "generation"), boundary)
        assert _equal(generation[boundary], reference(loaded, loaded.model, cut, boundary)), boundary
        assert not _equal(generation[boundary], package(loaded, None, boundary))  # k = 0 changes the steps
        assert _equal(package(loaded, _k(0, "all"), boundary), reference(loaded, cut, cut, boundary)), (
            boundary
        )
    null = package(
        loaded, InterventionSpec(kind="none", generation_mode="null"), "whole_prompt", needle_spans=[[(3, 6)]]
    )
    if any(
        a.window for a in _attention(loaded)
    ):  # LFM3: the needle left the 5-token window, and the authors'
        assert not _equal(null, generation["whole_prompt"])  # rule leaves such a row unchanged (not zeroed)
    else:
        assert _equal(null, generation["whole_prompt"])


@pytest.mark.parametrize("family", FAMILIES)
def test_bfloat16_keep_all_and_k0_surgery(family: str) -> None:
    """The real runs' dtype: k = H still bit-identical, k = 0 in generation still equal to the surgery."""
    loaded = tiny(family)
    half = dataclasses.replace(loaded, model=copy.deepcopy(loaded.model).to(torch.bfloat16))
    cut = surgery(half, [a.layer_index for a in _attention(half)])
    untouched = package(half, None, "whole_prompt")
    assert next(half.model.parameters()).dtype == torch.bfloat16  # (Nemotron-H returns float32 logits)
    assert _equal(package(half, _k(4, "all"), "whole_prompt"), untouched)
    assert _equal(
        package(half, _k(0, "generation"), "whole_prompt"), reference(half, half.model, cut, "whole_prompt")
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_single_layer_ablation_equals_surgery(family: str) -> None:
    loaded = tiny(family)
    first = _attention(loaded)[0].layer_index
    spec = InterventionSpec(kind="layer_ablation", layers=(first,), phase="all")
    cut = surgery(loaded, [first])
    for boundary in BOUNDARIES:
        ablated = package(loaded, spec, boundary)
        assert _equal(ablated, reference(loaded, cut, cut, boundary)), boundary
        assert not _equal(ablated, package(loaded, _k(0, "all"), boundary))  # one layer, not all of them


class WrongCacheEntry:
    """A broken adapter: its attention layers claim cache entries past the end, so every decode step reads
    an empty cache and looks like prefill (MiniMax's failure before the phase fix)."""

    def __init__(self, inner) -> None:
        self.inner, self.model_type = inner, inner.model_type

    def attention_layers(self, model) -> list[AttentionLayer]:
        return [
            dataclasses.replace(a, layer_index=a.layer_index + 1000)
            for a in self.inner.attention_layers(model)
        ]

    def mixer_layers(self, model):
        return self.inner.mixer_layers(model)


@pytest.mark.parametrize("family", FAMILIES)
def test_canary_passes_the_adapter_and_stops_a_broken_one(family: str) -> None:
    loaded = tiny(family)
    ids = PROMPT[0].tolist()
    for boundary in BOUNDARIES:
        check_interventions(loaded, ids, ("prefill", "generation"), boundary)
    broken = dataclasses.replace(loaded, adapter=WrongCacheEntry(loaded.adapter))
    check_interventions(broken, ids, ("prefill",), "whole_prompt")  # prefill is still prefill
    with pytest.raises(
        CanaryError, match=rf"model tiny-{family} \(family {family}\), phase generation: k = 0 left"
    ):
        check_interventions(broken, ids, ("generation",), "whole_prompt")


# ------------------------------------------------------------------------- the canary inside a model job


def _job(model_dir, out_path, monkeypatch: pytest.MonkeyPatch, *, canary: bool = True):
    """An attention-ablation job (generation and all) on four tiny trials, as the workflow runs it."""
    from test_evaluate import tiny_trials

    from hybrid_retrieval.jobs import experiments

    monkeypatch.setattr(
        experiments,
        "grid_trials",
        lambda loaded, grid, haystack, variant, haystack_dir=None: tiny_trials(
            loaded.tokenizer, lengths=(48, 64), depths=(0, 100)
        ),
    )
    if not canary:
        monkeypatch.setattr(experiments, "check_interventions", lambda *args: None)
    return experiments.run_experiment(
        model_dir,
        "attention_ablated",
        model={"name": "tiny", "dtype": "float32", "chat_template": False, "prefill_boundary": "auto"},
        # the grid's cells are tiny_trials' (grid_trials is replaced above)
        grid={"context_lengths": [48, 64], "depths": [0, 100], "max_new_tokens": 3, "batch_size": 2,
              "frame_reserve": 20, "seed": 0},
        haystack={"kind": "synthetic", "language_seed": 0},
        settings={"phases": ["generation", "all"]},
        out_path=out_path,
    )


def test_a_failed_canary_stops_the_job_before_any_row(tiny_model_dirs, tmp_path, monkeypatch) -> None:
    from hybrid_retrieval.models import registry

    monkeypatch.setattr(registry, "_USER", {})
    registry.register_adapter(WrongCacheEntry(get_adapter("jamba")), "jamba", replace=True)
    out = tmp_path / "rows.parquet"
    with pytest.raises(CanaryError, match=r"model tiny \(family jamba\), phase generation: k = 0 left"):
        _job(tiny_model_dirs["jamba"], out, monkeypatch)
    assert list(tmp_path.rglob("*.parquet")) == []  # no table, no progress side file


@pytest.mark.parametrize("arch", ["recurrent_gemma", "jamba"])
def test_the_canary_leaves_the_rows_unchanged(arch, tiny_model_dirs, tmp_path, monkeypatch) -> None:
    """The canary's extra prefill and decode steps (RecurrentGemma keeps state on its modules) change no row."""
    with_canary = _job(tiny_model_dirs[arch], tmp_path / "a.parquet", monkeypatch)
    without = _job(tiny_model_dirs[arch], tmp_path / "b.parquet", monkeypatch, canary=False)
    assert with_canary.height == 8 and with_canary.equals(without)


def test_mmlu_jobs_run_the_prefill_canary(tiny_model_dirs, tmp_path, monkeypatch) -> None:
    from test_multiple_choice import make_questions

    from hybrid_retrieval.jobs import experiments
    from hybrid_retrieval.tasks import mmlu

    data = {"test": {"s": make_questions("s", 3, 0)}, "dev": {"s": make_questions("s", 2, 1)}}
    monkeypatch.setattr(mmlu, "load_mc_dataset", lambda source: data)
    calls = []
    real = experiments.check_interventions
    monkeypatch.setattr(experiments, "check_interventions", lambda *a: calls.append(a[2:]) or real(*a))
    table = experiments.run_mmlu(
        tiny_model_dirs["jamba"], model={"name": "tiny", "dtype": "float32", "chat_template": False, "prefill_boundary": "auto"},
        dataset="x.parquet", k=0,
        num_shots=1, chat_template=False, batch_size=2, out_path=tmp_path / "mmlu.parquet",
    )  # fmt: skip
    assert calls == [(("prefill",), "whole_prompt")] and table.height == 3


def test_the_canary_prompt_stays_within_one_query_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunked prefill equals eager attention only to rounding, so the canary shortens the first trial to
    what one chunk holds (batch 1 x heads x n x n), and to CANARY_TOKENS at most."""
    from hybrid_retrieval import interventions
    from hybrid_retrieval.jobs import canary

    loaded, seen = tiny("bamba"), []
    real = canary.prefill
    monkeypatch.setattr(
        canary, "prefill", lambda lm, ids, boundary: seen.append(ids.shape[1]) or real(lm, ids, boundary)
    )
    long_prompt = [3 + i % 40 for i in range(600)]
    monkeypatch.setattr(
        interventions, "_SCORE_ELEMENTS_PER_CHUNK", 4 * 10 * 10
    )  # 4 heads: 10 queries x 10 keys
    check_interventions(loaded, long_prompt, ("prefill", "generation"), "whole_prompt")
    assert set(seen) == {10}
    monkeypatch.setattr(interventions, "_SCORE_ELEMENTS_PER_CHUNK", 1 << 26)
    seen.clear()
    check_interventions(loaded, long_prompt, ("generation",), "whole_prompt")
    assert seen == [canary.CANARY_TOKENS]


def test_canary_phases_follow_what_the_specs_touch() -> None:
    from hybrid_retrieval.jobs.canary import canary_phases

    assert canary_phases([InterventionSpec(kind="none")]) == (
        "generation",
    )  # untouched runs: decoding checked
    assert canary_phases([_k(0, "generation")]) == ("generation",)
    assert canary_phases([_k(0, "generation"), _k(0, "all")]) == ("prefill", "generation")
    assert canary_phases([InterventionSpec(kind="none", prefill_mode="omit")]) == ("prefill",)
    follow = InterventionSpec(kind="none", generation_mode="only", prefill_mode="follow")
    assert canary_phases([follow]) == ("prefill", "generation")


def test_phase_is_read_from_each_attention_layers_cache_entry() -> None:
    from hybrid_retrieval.errors import InterventionError
    from hybrid_retrieval.interventions.phases import PhaseTracker

    class Cache:
        def __init__(self, lengths: dict) -> None:
            self.lengths = lengths

        def get_seq_length(self, index: int = 0) -> int:
            if self.lengths[index] is None:
                raise ValueError("a LinearAttentionLayer does not track sequence length")
            return self.lengths[index]

    tracker = PhaseTracker(_k(0, "generation"), [1, 3])
    tracker.begin_forward(None, (), {"cache": Cache({0: 0, 1: 7, 3: 7})})  # layer 0 (SSM) reports 0
    assert tracker.past == 7 and tracker.call_phase(1) == "generation"
    with pytest.raises(InterventionError, match=r"disagree on the cached tokens \(\{1: 7, 3: 6\}\)"):
        tracker.begin_forward(None, (), {"cache": Cache({1: 7, 3: 6})})
    with pytest.raises(InterventionError, match="attention layer 3 holds no attention keys"):
        tracker.begin_forward(None, (), {"cache": Cache({1: 7, 3: None})})
