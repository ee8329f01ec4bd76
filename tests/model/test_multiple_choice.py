"""Multiple-choice scoring on a tiny random-weight Jamba with the toys' word-level tokenizer."""

from __future__ import annotations

import random

import polars as pl
import pytest
import torch
from transformers import JambaConfig, JambaForCausalLM, RecurrentGemmaConfig, RecurrentGemmaForCausalLM

from hybrid_retrieval.errors import ConfigError, InterventionError
from hybrid_retrieval.interventions import InterventionSpec
from hybrid_retrieval.jobs.multiple_choice import EncodedQuestion, letter_logprobs, score_multiple_choice
from hybrid_retrieval.models.loading import LoadedModel
from hybrid_retrieval.models.registry import get_adapter
from hybrid_retrieval.tasks.mmlu import MCQuestion, description, format_prompt, question_text
from hybrid_retrieval.tasks.tokenizer import build_word_tokenizer, split_words

WORDS = "red green blue cat dog fish tree rock sun moon one two three four five six".split()
SUBJECTS = ("toy_facts", "high_school_colors")
NUM_HEADS = 4
MC_COLUMNS = [
    "model", "revision", "dataset", "condition", "intervention_hash", "kind", "k", "num_heads", "kept_fraction",
    "phase", "subject", "question_id", "question_key", "answer", "prediction", "correct", "logprob_a", "logprob_b",
    "logprob_c", "logprob_d", "num_shots", "chat_template", "package_version",
]  # fmt: skip


def make_questions(subject: str, n: int, seed: int) -> list[MCQuestion]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        w = rng.sample(WORDS, 6 + rng.randrange(2))  # two prompt lengths, so batching must group
        out.append(
            MCQuestion(subject, "what is " + " ".join(w[:-4]) + " ?", tuple(w[-4:]), "ABCD"[rng.randrange(4)])
        )
    return out


@pytest.fixture(scope="module")
def mc_data() -> tuple[list[MCQuestion], dict[str, list[MCQuestion]]]:
    dev = {s: make_questions(s, 2, 100 + i) for i, s in enumerate(SUBJECTS)}
    test = [q for i, s in enumerate(SUBJECTS) for q in make_questions(s, 6, i)]
    return test, dev


def tiny_loaded(arch: str, texts: list[str], seed: int = 0) -> LoadedModel:
    """A 2-layer Jamba (mamba, attention) or 2-layer RecurrentGemma (recurrent, attention), 4 heads each;
    large init so that letter choices differ between questions."""
    tokenizer = build_word_tokenizer(w for t in texts for w in split_words(t))
    torch.manual_seed(seed)
    common = dict(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=NUM_HEADS, initializer_range=0.3, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    if arch == "jamba":
        config = JambaConfig(
            **common, attn_layer_period=2, attn_layer_offset=1, num_key_value_heads=2, num_experts=1,
            expert_layer_period=1, expert_layer_offset=0, mamba_d_state=4, mamba_expand=1, mamba_dt_rank=4,
        )  # fmt: skip
        model = JambaForCausalLM(config)
    else:
        config = RecurrentGemmaConfig(
            **common, num_key_value_heads=1, block_types=["recurrent", "attention"], attention_window_size=64,
        )  # fmt: skip
        model = RecurrentGemmaForCausalLM(config)
    model.eval()
    return LoadedModel(
        model=model, tokenizer=tokenizer, adapter=get_adapter(model), name=f"tiny-{arch}", revision="toy-test"
    )


def texts_of(questions: list[MCQuestion]) -> list[str]:
    return [description(s) for s in SUBJECTS] + [question_text(q) + " A B C D" for q in questions]


@pytest.fixture(scope="module", params=["jamba", "recurrent_gemma"])
def loaded(request, mc_data) -> LoadedModel:
    test, dev = mc_data
    return tiny_loaded(request.param, texts_of(test + [q for qs in dev.values() for q in qs]))


def score(loaded, mc_data, spec, **kw) -> pl.DataFrame:
    test, dev = mc_data
    args = {"num_shots": 2, "chat_template": False, "batch_size": 4, "out_path": None} | kw
    return score_multiple_choice(loaded, test, dev, spec=spec, **args)


NONE = InterventionSpec(kind="none")


def test_choice_is_argmax_of_letter_logprobs_from_raw_logits(loaded, mc_data) -> None:
    test, dev = mc_data
    df = score(loaded, mc_data, NONE)
    assert df.columns == MC_COLUMNS
    by_id = {row["question_id"]: row for row in df.to_dicts()}
    counters: dict[str, int] = {}
    predictions = set()
    for q in test:
        n = counters.get(q.subject, 0)
        counters[q.subject] = n + 1
        row = by_id[f"{q.subject}-{n:05d}"]
        prompt = format_prompt(q, dev[q.subject][:2], subject=q.subject)
        ids = loaded.tokenizer(prompt).input_ids
        letters = [loaded.tokenizer(prompt + f" {x}").input_ids[-1] for x in "ABCD"]
        with torch.no_grad():
            logits = loaded.model(input_ids=torch.tensor([ids])).logits[0, -1]
        expected = torch.log_softmax(logits.double(), dim=-1)[letters]
        got = torch.tensor([row[f"logprob_{x}"] for x in "abcd"], dtype=torch.double)
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
        assert row["prediction"] == "ABCD"[int(expected.argmax())]
        assert row["correct"] == (row["prediction"] == q.answer)
        predictions.add(row["prediction"])
    if loaded.model.config.model_type == "jamba":  # RecurrentGemma's tiny logits favour one letter
        assert len(predictions) > 1, "the tiny model should not pick the same letter everywhere"


def test_batched_equals_one_at_a_time(loaded, mc_data) -> None:
    for spec in (NONE, InterventionSpec(kind="entropy_topk", k=2, phase="all")):
        batched = score(loaded, mc_data, spec, batch_size=5)
        single = score(loaded, mc_data, spec, batch_size=1)
        assert batched["prediction"].to_list() == single["prediction"].to_list()
        for col in ("logprob_a", "logprob_b", "logprob_c", "logprob_d"):
            assert (batched[col] - single[col]).abs().max() < 1e-5


def test_prefill_sparsity_changes_scores_and_all_heads_is_a_no_op(loaded, mc_data) -> None:
    full = score(loaded, mc_data, NONE)
    all_heads = score(loaded, mc_data, InterventionSpec(kind="entropy_topk", k=NUM_HEADS, phase="all"))
    ablated = score(loaded, mc_data, InterventionSpec(kind="entropy_topk", k=0, phase="all"))
    assert (full["logprob_a"] - all_heads["logprob_a"]).abs().max() < 1e-5
    assert (full["logprob_a"] - ablated["logprob_a"]).abs().max() > 1e-4
    assert ablated["kept_fraction"].unique().to_list() == [0.0]
    assert ablated["intervention_hash"][0] != full["intervention_hash"][0]


def test_k_above_head_count_and_generation_phase_are_rejected(loaded, mc_data) -> None:
    with pytest.raises(InterventionError, match=str(NUM_HEADS + 1)):
        score(loaded, mc_data, InterventionSpec(kind="entropy_topk", k=NUM_HEADS + 1, phase="all"))
    with pytest.raises(ConfigError, match="phase: all"):
        score(loaded, mc_data, InterventionSpec(kind="entropy_topk", k=2, phase="generation"))


def test_multi_token_continuations_fall_back_to_full_loglikelihood(loaded) -> None:
    context = loaded.tokenizer("what is red ? Answer :").input_ids
    vocab = loaded.tokenizer.get_vocab()
    conts = tuple(
        [vocab[a], vocab[b]] for a, b in (("red", "cat"), ("dog", "sun"), ("one", "two"), ("six", "rock"))
    )
    item = EncodedQuestion(index=0, question_id="x-00000", context=context, continuations=conts)
    got = letter_logprobs(loaded.model, [item], batch_size=4)[0]
    for cont, value in zip(conts, got, strict=True):
        with torch.no_grad():
            logits = loaded.model(input_ids=torch.tensor([context + cont])).logits[0]
        lp = torch.log_softmax(logits.double(), dim=-1)
        n = len(context)
        expected = lp[n - 1, cont[0]] + lp[n, cont[1]]
        assert abs(value - float(expected)) < 1e-5


def test_rows_are_written_atomically_and_sorted(loaded, mc_data, tmp_path) -> None:
    out = tmp_path / "mmlu" / "none.parquet"
    df = score(loaded, mc_data, NONE, out_path=out, chat_template=True)
    assert pl.read_parquet(out).equals(df)
    assert df.select("subject", "question_id").equals(
        df.select("subject", "question_id").sort("subject", "question_id")
    )
    assert df["chat_template"].all() and df["num_shots"].unique().to_list() == [2]
    assert [p.name for p in out.parent.iterdir()] == ["none.parquet"]


def test_mmlu_logs_progress_and_a_closing_result_line(loaded, mc_data, tmp_path, caplog) -> None:
    # Before, MMLU logged nothing after loading the weights: no count, no accuracy, no output path.
    import logging

    out = tmp_path / "top-H-heads.parquet"
    with caplog.at_level(logging.INFO, logger="hybrid_retrieval"):
        df = score(loaded, mc_data, NONE, out_path=out)
    lines = [r.getMessage() for r in caplog.records]
    total = len(mc_data[0])  # single-token letters: one sequence per question
    progress = [line for line in lines if f"/{total} sequences" in line]
    assert progress and progress[-1].startswith(
        f"mmlu {NONE.label()} on {loaded.name}: {total}/{total} sequences (100%)"
    )
    assert "sequences/s" in progress[0] and ("ETA" in progress[0] or "done in" in progress[0])
    correct = int(df["correct"].sum())
    closing = f"mmlu {NONE.label()} on {loaded.name}: {total} questions, accuracy {correct / total:.4f} ({correct} correct)"
    assert any(line.startswith(closing) and line.endswith(f"-> {out}") for line in lines), lines
