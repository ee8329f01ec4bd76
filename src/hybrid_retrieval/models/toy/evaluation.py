"""The trained toy's own scores (recorded in toy_metadata.json): held-out retrieval by length and
multiple-choice accuracy, lm-eval style."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from hybrid_retrieval.errors import ConfigError
from hybrid_retrieval.models.toy.recipe import ToyTrainConfig
from hybrid_retrieval.tasks import mmlu
from hybrid_retrieval.tasks.mmlu import LETTERS, MCQuestion
from hybrid_retrieval.tasks.prompts import build_prompt
from hybrid_retrieval.tasks.synthetic import MC_TEST_ARRANGEMENTS, SyntheticLanguage


def heldout_trials(
    language: SyntheticLanguage,
    tokenizer: PreTrainedTokenizerBase,
    lengths: Sequence[int],
    n_trials: int,
    seed: int,
) -> dict[int, list[tuple[list[int], list[int]]]]:
    """length -> [(prompt ids of exactly `length` tokens, needle ids)]: single-needle, base prompt,
    random depth; drawn from an rng stream that training never uses."""
    rng = random.Random(f"toy-heldout-{seed}")
    trials: dict[int, list[tuple[list[int], list[int]]]] = {}
    for i, length in enumerate(lengths):
        count = n_trials // len(lengths) + (i < n_trials % len(lengths))
        for _ in range(count):
            needle = language.needle(rng)
            frame = len(tokenizer(build_prompt(needle.sentence, needle.question, "base")).input_ids)
            if frame > length:
                raise ConfigError(f"eval length {length} is shorter than one needle prompt ({frame} tokens)")
            sentences = language.haystack_sentences(rng, length - frame)
            sentences.insert(rng.randint(0, len(sentences)), needle.sentence.split())
            context = " ".join(w for s in sentences for w in s)
            ids = tokenizer(build_prompt(context, needle.question, "base")).input_ids
            assert len(ids) == length, (len(ids), length)  # word-level: token count is exact by construction
            trials.setdefault(length, []).append(
                (ids, tokenizer(needle.sentence, add_special_tokens=False).input_ids)
            )
    return trials


@torch.no_grad()
def greedy_decode(model: PreTrainedModel, input_ids: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    """Greedy continuation of equal-length prompts (no padding: it would corrupt recurrent state)."""
    out = model.generate(
        input_ids=input_ids,
        attention_mask=torch.ones_like(input_ids),
        max_new_tokens=max_new_tokens,
        do_sample=False,
        pad_token_id=model.config.pad_token_id,
    )
    return out[:, input_ids.shape[1] :]


def retrieval_accuracy(
    model: PreTrainedModel, trials: dict[int, list[tuple[list[int], list[int]]]], batch_size: int = 25
) -> dict[int, float]:
    """length -> share of trials whose greedy output starts with the exact needle sentence."""
    result = {}
    for length, items in trials.items():
        hits = 0
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            width = max(len(n) for _, n in chunk)
            generated = greedy_decode(model, torch.tensor([p for p, _ in chunk]), width + 1).tolist()
            hits += sum(g[: len(n)] == n for g, (_, n) in zip(generated, chunk, strict=True))
        result[length] = hits / len(items)
    return result


@torch.no_grad()
def mc_accuracy(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    questions: Sequence[MCQuestion],
    dev: Sequence[MCQuestion],
    shots: int,
) -> float:
    """lm-eval style: argmax of the log-likelihood of " A".." D" after the prompt (one token each here)."""
    letter_ids = [tokenizer(f" {x}", add_special_tokens=False).input_ids[0] for x in LETTERS]
    correct = 0
    for q in questions:
        pool = [d for d in dev if d.subject == q.subject][:shots]
        ids = tokenizer(mmlu.format_prompt(q, pool, subject=q.subject)).input_ids
        logits = model(input_ids=torch.tensor([ids]), use_cache=False).logits[0, -1]
        correct += LETTERS[int(logits[letter_ids].argmax())] == q.answer
    return correct / len(questions)


def evaluate_toy(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    language: SyntheticLanguage,
    config: ToyTrainConfig,
    seed: int,
) -> dict[str, Any]:
    trials = heldout_trials(language, tokenizer, config.eval_lengths, config.eval_trials, seed)
    by_length = retrieval_accuracy(model, trials)
    n = sum(len(v) for v in trials.values())
    test, dev = language.mc_questions("test"), language.mc_questions("dev")
    mc = {str(s): mc_accuracy(model, tokenizer, test, dev, s) for s in config.mc_shots}
    return {
        "retrieval_exact": sum(by_length[k] * len(trials[k]) for k in trials) / n,
        "retrieval_exact_by_length": {str(k): v for k, v in by_length.items()},
        "retrieval_trials": n,
        "mc_accuracy_by_shots": mc,
        "mc_test_questions": len({(q.subject, q.question) for q in test}),
        "mc_test_items": len(test),  # each test question in MC_TEST_ARRANGEMENTS orders of its choices
        # What the MC score measures (an MMLU stand-in: knowledge seen in training, asked in MC format).
        "mc_protocol": (
            f"facts of splits {list(config.mc_train_splits)} are trained as sentences and as MC questions "
            "with freshly drawn choices and order; the exported dev/test items themselves (exact choices "
            f"and order; {MC_TEST_ARRANGEMENTS} arrangements of each test question) never appear in training"
        ),
    }
