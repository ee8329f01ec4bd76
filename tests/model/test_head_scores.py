"""Static-head ranking (`head_scores.head_scores`), k-sweep helpers and attention recordings (E7)."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import pytest
import torch
from transformers import JambaConfig, JambaForCausalLM

from hybrid_retrieval.errors import ConfigError
from hybrid_retrieval.interventions import InterventionSpec
from hybrid_retrieval.jobs.head_scores import head_scores, smallest_k_keeping, static_heads_from_scores
from hybrid_retrieval.jobs.recording import record_attention
from hybrid_retrieval.models.loading import LoadedModel
from hybrid_retrieval.models.registry import get_adapter
from hybrid_retrieval.tasks.tokenizer import build_word_tokenizer

WORDS = "red green blue cat dog fish tree rock sun moon one two three four the best is in . ? :".split()
NUM_HEADS = 4
CARRIER = 2  # the only head whose output reaches the residual stream


@dataclass(frozen=True)
class ProbeTrial:  # the fields of tasks.niah.Trial that head scoring and recording read
    trial_id: str
    prompt: str
    needle: str
    input_ids: list[int]
    needle_spans: list[tuple[int, int]]


@pytest.fixture(scope="module")
def loaded() -> LoadedModel:
    """A Jamba (mamba, attention) where only head CARRIER writes to o_proj and its queries are sharp."""
    tokenizer = build_word_tokenizer(WORDS)
    torch.manual_seed(0)
    config = JambaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        attn_layer_period=2, attn_layer_offset=1, num_attention_heads=NUM_HEADS, num_key_value_heads=2,
        num_experts=1, expert_layer_period=1, expert_layer_offset=0, mamba_d_state=4, mamba_expand=1,
        mamba_dt_rank=4, initializer_range=0.3, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    model = JambaForCausalLM(config).eval()
    attn = model.model.layers[1].self_attn
    d = attn.head_dim
    with torch.no_grad():
        for h in range(NUM_HEADS):
            if h != CARRIER:
                attn.o_proj.weight[:, h * d : (h + 1) * d] = 0.0
        attn.q_proj.weight[CARRIER * d : (CARRIER + 1) * d] *= 30.0  # peaked attention = low entropy
    return LoadedModel(
        model=model, tokenizer=tokenizer, adapter=get_adapter(model), name="tiny", revision="toy"
    )


def make_trial(tokenizer, trial_id: str, before: str, needle: str, after: str) -> ProbeTrial:
    prompt = f"{before} {needle} {after} : "
    ids = tokenizer(prompt).input_ids
    start = len(tokenizer(before).input_ids)  # [BOS] + before
    return ProbeTrial(trial_id, prompt, needle, ids, [(start, start + len(needle.split()))])


@pytest.fixture(scope="module")
def trials(loaded) -> list[ProbeTrial]:
    tok = loaded.tokenizer
    return [
        make_trial(
            tok, "t0", "red cat is in the tree .", "the best is blue moon .", "dog fish rock ? what is best ?"
        ),
        make_trial(tok, "t1", "one two three four .", "the best is sun rock .", "green cat ? what is best ?"),
    ]


def test_head_scores_columns_ranks_and_determinism(loaded, trials) -> None:
    df = head_scores(loaded, trials, max_answer_tokens=4)
    assert df.columns == [
        "model",
        "layer_index",
        "head",
        "mean_entropy",
        "ablation_drop",
        "entropy_rank",
        "ablation_rank",
    ]
    assert df.select("layer_index", "head").rows() == [(1, h) for h in range(NUM_HEADS)]
    assert sorted(df["entropy_rank"]) == list(range(NUM_HEADS)) == sorted(df["ablation_rank"])
    assert df.equals(head_scores(loaded, trials, max_answer_tokens=4))


def test_head_scores_single_out_the_head_that_carries_the_output(loaded, trials, tmp_path) -> None:
    out = tmp_path / "heads" / "scores.parquet"
    df = head_scores(loaded, trials, phase="all", max_answer_tokens=4, out_path=out)
    assert pl.read_parquet(out).equals(df)
    carrier = df.filter(pl.col("head") == CARRIER).row(0, named=True)
    silent = df.filter(pl.col("head") != CARRIER)
    # Zeroing a head whose o_proj columns are zero changes nothing; zeroing the carrier changes the answer.
    assert silent["ablation_drop"].abs().max() < 1e-5
    assert abs(carrier["ablation_drop"]) > 1e-3
    assert carrier["entropy_rank"] == 0
    assert static_heads_from_scores(df, 1) == ((1, CARRIER),)
    assert len(static_heads_from_scores(df, 3, rank_by="ablation_rank")) == 3
    with pytest.raises(ConfigError, match="k=5"):
        static_heads_from_scores(df, NUM_HEADS + 1)


def test_smallest_k_keeping() -> None:
    sweep = pl.DataFrame(
        {
            "model": ["a"] * 5 + ["b"] * 3 + ["c"] * 2,
            "k": [0, 1, 2, 3, 4, 0, 1, 2, 0, 1],
            "exact_rate": [0.0, 0.5, 0.96, 1.0, 1.0, 0.0, 0.2, 0.3, 0.0, 0.0],
        }
    )
    got = smallest_k_keeping(sweep, 0.95)
    assert got.select("model", "k_min", "k_max").rows() == [("a", 2, 4), ("b", 2, 2), ("c", None, 1)]
    assert got["kept_fraction"].to_list()[:2] == [0.5, 1.0]
    assert smallest_k_keeping(sweep, 0.5).filter(pl.col("model") == "a")["k_min"].item() == 1
    with pytest.raises(ConfigError, match="fraction"):
        smallest_k_keeping(sweep, 1.5)


def test_record_attention_rows(loaded, trials, tmp_path) -> None:
    spec = InterventionSpec(kind="entropy_topk", k=1, phase="generation")
    out = tmp_path / "recordings" / "heads.parquet"
    df = record_attention(loaded, trials, spec, max_new_tokens=3, out_path=out)
    assert df.columns == [
        "model",
        "trial_id",
        "step",
        "layer_index",
        "head",
        "entropy",
        "kept",
        "needle_mass",
    ]
    assert df.schema["step"] == pl.Int32 and df.schema["entropy"] == pl.Float32
    per_step = (
        df.group_by("trial_id", "step", "layer_index")
        .agg(pl.len(), pl.col("kept").sum())
        .sort("trial_id", "step")
    )
    assert per_step["len"].unique().to_list() == [NUM_HEADS]
    # Generation-phase sparsity: the prefill (step 0) keeps every head, each decoding step exactly k = 1.
    assert per_step.filter(pl.col("step") == 0)["kept"].unique().to_list() == [NUM_HEADS]
    assert per_step.filter(pl.col("step") > 0)["kept"].unique().to_list() == [1]
    assert sorted(df["step"].unique()) == [0, 1, 2]  # forced to 3 steps: no EOS in this vocabulary's top
    assert df["needle_mass"].is_between(0.0, 1.0 + 1e-5).all()
    assert pl.read_parquet(out).equals(df)
    assert df.equals(record_attention(loaded, trials, spec, max_new_tokens=3, out_path=None))
