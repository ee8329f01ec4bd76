"""Toy training: a few steps of each tiny architecture, saved in hub layout, reloaded by the Auto classes."""

import csv
import json
import random
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from hybrid_retrieval.errors import ConfigError, UnknownArchitectureError
from hybrid_retrieval.models.toy import (
    METADATA_FILE,
    TOY_ARCHS,
    ToyCorpus,
    build_model,
    lm_loss,
    make_config,
    step_stages,
    train_toy,
)
from hybrid_retrieval.tasks import mmlu
from hybrid_retrieval.tasks.prompts import build_prompt
from hybrid_retrieval.tasks.synthetic import SUBJECTS, SyntheticLanguage
from hybrid_retrieval.tasks.tokenizer import build_word_tokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from tiny_toy import TINY_MODEL, tiny_run  # noqa: E402

TINY_RUN = tiny_run(steps=3, eval_lengths=[64, 80], eval_trials=4)


def tiny(arch: str, tmp_path, name: str, seed: int = 0) -> dict:
    return train_toy(arch, tmp_path / name, seed=seed, model=TINY_MODEL[arch], **TINY_RUN)


@pytest.mark.parametrize("arch", TOY_ARCHS)
def test_trained_toy_reloads_with_auto_classes(arch, tmp_path):
    meta = tiny(arch, tmp_path, "toy")
    out = tmp_path / "toy"
    assert {"config.json", "model.safetensors", "tokenizer.json", METADATA_FILE} <= {
        p.name for p in out.iterdir()
    }
    assert json.loads((out / METADATA_FILE).read_text()) == meta
    assert meta["arch"] == arch and meta["steps"] == 3 and meta["retrieval_trials"] == 4
    assert 0 <= meta["retrieval_exact"] <= 1 and set(meta["mc_accuracy_by_shots"]) == {"0"}
    assert 0 < meta["train_cpu_seconds"] and 0 < meta["train_seconds"]

    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    assert model.config.model_type == arch
    prompt = build_prompt("the best thing to do in x is y .", "what is the best thing to do in x ?", "base")
    ids = tokenizer(prompt, return_tensors="pt").input_ids
    assert ids[0, 0].item() == tokenizer.bos_token_id

    # The same weights as a fresh in-process copy: reload twice and compare, and compare with the hash.
    again = AutoModelForCausalLM.from_pretrained(out).eval()
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, again(ids).logits, rtol=0, atol=0)
    assert tokenizer.chat_template is not None


def test_mc_csv_has_mmlu_layout(tmp_path):
    tiny("recurrent_gemma", tmp_path, "toy")
    data = mmlu.load_mmlu_csv_dir(tmp_path / "toy" / "mc")
    assert set(data) == {"dev", "test"} and set(data["test"]) == set(SUBJECTS)
    assert all(len(qs) == 5 for qs in data["dev"].values())
    with (tmp_path / "toy" / "mc" / "test" / "geography_test.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    assert all(len(r) == 6 and r[5] in "ABCD" for r in rows)


def test_same_seed_same_weights_other_seed_other_weights(tmp_path):
    a = tiny("recurrent_gemma", tmp_path, "a", seed=1)
    b = tiny("recurrent_gemma", tmp_path, "b", seed=1)
    c = tiny("recurrent_gemma", tmp_path, "c", seed=2)
    assert a["weights_sha256"] == b["weights_sha256"] != c["weights_sha256"]


def test_retraining_replaces_the_output_directory(tmp_path):
    tiny("jamba", tmp_path, "toy", seed=0)
    (tmp_path / "toy" / "stale.txt").write_text("old")
    tiny("jamba", tmp_path, "toy", seed=0)
    assert not (tmp_path / "toy" / "stale.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["toy"]  # no temporary directories left behind


def test_defaults_follow_the_recipe():
    rg, jamba = make_config("recurrent_gemma"), make_config("jamba")
    assert (
        rg.model["block_types"] == ["recurrent", "recurrent", "attention"]
        and rg.model["num_key_value_heads"] == 1
    )
    assert rg.model["attention_window_size"] >= max(rg.eval_lengths)
    assert jamba.model["use_mambapy"] and jamba.model["num_experts"] == 1
    assert [n for n, _ in rg.curriculum] == sorted(n for n, _ in rg.curriculum)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"steps": 0}, "steps"),
        ({"lr": 5.0}, "lr"),
        ({"curriculum": [[16, 1.0]]}, "curriculum length"),
        ({"curriculum": [[64, 0.5]]}, "sum to 1"),
        ({"warmup_steps": 10, "steps": 5}, "warmup_steps"),
        ({"eval_lengths": [10]}, "eval_lengths"),
        ({"learning_rate": 1e-3}, "unknown toy training option"),
        ({"compact_below": -1}, "compact_below"),
        ({"mc_share": 1.5}, "mc_share"),
        ({"curriculum": [[64, 1.0, 1.0]]}, "knowledge fraction"),
        ({"curriculum": [[64, 1.0, 0.1, 2]]}, "curriculum stage"),
        ({"loss_mean": "batch"}, "loss_mean"),
        (
            {"model": {"no_such_field": 1}},
            "invalid model override",
        ),
    ],
)
def test_bad_inputs_raise_config_errors(tmp_path, overrides, match):
    with pytest.raises(ConfigError, match=match):
        train_toy("recurrent_gemma", tmp_path / "x", **{**TINY_RUN, **overrides})
    assert not (tmp_path / "x").exists()


def test_unknown_architecture_names_supported_ones(tmp_path):
    with pytest.raises(UnknownArchitectureError, match="recurrent_gemma, jamba"):
        train_toy("mamba2", tmp_path / "x")


@pytest.fixture(scope="module")
def corpus():
    language = SyntheticLanguage(0)
    return ToyCorpus(language, build_word_tokenizer(language.vocabulary()), make_config("jamba"))


@pytest.mark.parametrize("length", [40, 48, 96])
def test_compact_examples_supervise_only_needle_sentences_found_in_the_context(corpus, length):
    rng = random.Random(length)
    for _ in range(20):
        example = corpus.compact_example(rng, length)
        assert len(example.input_ids) == len(example.labels) == length
        text = corpus.tok.decode(example.input_ids)
        answers = corpus.tok.decode(
            [t for t, y in zip(example.input_ids, example.labels, strict=True) if y != -100]
        )
        sentences = [s.strip() + " ." for s in answers.split(" .") if s.strip()]
        assert sentences and all(s.startswith("the best thing to do in") for s in sentences)
        # each answer occurs twice: once as the needle in the context, once after its question
        assert all(text.count(s) == 2 and f"in {s.split()[6]} ? {s}" in text for s in sentences)


@pytest.mark.parametrize("compact_below", [64, 129])
def test_stages_shorter_than_compact_below_use_the_compact_format(compact_below):
    language = SyntheticLanguage(0)
    config = make_config("jamba", compact_below=compact_below)
    corpus = ToyCorpus(language, build_word_tokenizer(language.vocabulary()), config)
    for length in (48, 96, 128, 256):
        input_ids, labels = corpus.batch(random.Random(length), length)
        framed = "CONTEXT" in corpus.tok.decode(input_ids.flatten().tolist())
        assert framed == (length >= compact_below) and (labels != -100).any()


def test_a_stage_can_set_its_own_knowledge_fraction():
    config = make_config(
        "jamba", steps=10, warmup_steps=1, knowledge_fraction=0.2, curriculum=[[40, 0.3, 0.0], [64, 0.7]]
    )
    assert step_stages(config) == [(40, 0.0)] * 3 + [(64, 0.2)] * 7
    language = SyntheticLanguage(0)
    corpus = ToyCorpus(language, build_word_tokenizer(language.vocabulary()), config)
    texts = [corpus.tok.decode(row) for row in corpus.batch(random.Random(0), 64, 0.0)[0].tolist()]
    assert all("best thing to do" in t for t in texts)  # no knowledge sequences in a 0-knowledge stage
    texts = [corpus.tok.decode(row) for row in corpus.batch(random.Random(0), 64, 0.9)[0].tolist()]
    assert sum("best thing to do" not in t for t in texts) > len(texts) // 2


def test_sequence_mean_weighs_each_sequence_the_same_whatever_its_number_of_supervised_tokens():
    torch.manual_seed(0)
    logits = torch.randn(2, 9, 5)
    labels = torch.randint(0, 5, (2, 9))
    labels[0, 2:] = -100  # one supervised target (position 1), against eight in the second sequence
    per_token = torch.nn.functional.cross_entropy(
        logits[:, :-1].transpose(1, 2), labels[:, 1:], reduction="none"
    )
    short, long = per_token[0, 0], per_token[1].mean()
    assert torch.allclose(lm_loss(logits, labels, "sequence"), (short + long) / 2)
    assert torch.allclose(lm_loss(logits, labels, "token"), (short + per_token[1].sum()) / 9)
    labels[0] = -100  # a sequence with nothing supervised does not count
    assert torch.allclose(lm_loss(logits, labels, "sequence"), long)


@pytest.mark.parametrize("mc_share", [0.0, 1.0])
def test_mc_share_sets_how_many_knowledge_sequences_are_mc_prompts(mc_share):
    language = SyntheticLanguage(0)
    config = make_config("jamba", mc_share=mc_share)
    corpus = ToyCorpus(language, build_word_tokenizer(language.vocabulary()), config)
    rng = random.Random(1)
    texts = [corpus.tok.decode(corpus.knowledge_example(rng, 256).input_ids) for _ in range(30)]
    assert sum("Answer :" in t for t in texts) == (30 if mc_share else 0)


def test_open_book_mc_prompts_state_each_fact_before_its_question():
    language = SyntheticLanguage(0)
    config = make_config("jamba", mc_share=1.0, mc_open_book=1.0)
    corpus = ToyCorpus(language, build_word_tokenizer(language.vocabulary()), config)
    rng = random.Random(2)
    for _ in range(20):
        text = corpus.tok.decode(corpus.knowledge_example(rng, 256).input_ids)
        items = text.split(" Answer : ")
        assert len(items) >= 3  # packed shots
        for item, after in zip(items[:-1], items[1:], strict=True):
            # "... the capital of k is v . what is the capital of k ? A . x B . y C . z D . w"
            fact, question = item.rsplit(" what is ", 1)
            value = fact.split()[-2]
            choices = dict(zip("ABCD", question.split(" ? ", 1)[1].split()[2::3], strict=True))
            assert choices[after.split()[0]] == value


def test_knowledge_examples_never_show_the_exported_mc_items(corpus):
    rng = random.Random(0)
    exported = {mmlu.question_text(q) + " " + q.answer for q in corpus.exported}
    seen_mc = 0
    for _ in range(200):
        text = corpus.tok.decode(corpus.knowledge_example(rng, 256).input_ids)
        seen_mc += "Answer :" in text
        assert not any(corpus.tok.decode(corpus.tok(e).input_ids[1:]) in text for e in exported)
    assert seen_mc > 50  # most knowledge sequences are packed MC prompts


def test_jamba_toy_starts_from_the_reference_mamba_init():
    """Time steps log-uniform in [1e-3, 1e-1] and PyTorch's conv init, not transformers' N(0, 0.02)."""
    language = SyntheticLanguage(0)
    tokenizer = build_word_tokenizer(language.vocabulary())
    torch.manual_seed(0)
    model = build_model("jamba", make_config("jamba", model=TINY_MODEL["jamba"]), tokenizer)
    mixers = [m for m in model.modules() if hasattr(m, "dt_proj") and hasattr(m, "conv1d")]
    assert mixers
    for mixer in mixers:
        dt = torch.nn.functional.softplus(mixer.dt_proj.bias)
        assert dt.min() >= 1e-4 and dt.max() <= 0.1 + 1e-6
        assert dt.std() > 0  # channels forget at different rates
        assert mixer.conv1d.weight.std() > 0.1  # PyTorch's default (fan-in 4), not 0.02
