"""Golden prompts: our needle-test prompts against the authors' stored RecurrentGemma prompt files
(tests/fixtures/authors_prompts, lamalunderscore/NIAH@2e34c21) and their Jamba construction.

The real Gemma tokenizer is not reachable here, so what does not depend on it is checked at the text level:
the frame byte for byte, the haystack (their essays in their order, up to their trim point) and the needle
on its own line. With a real tokenizer directory in HYBRID_RETRIEVAL_GEMMA_TOKENIZER the whole prompt is
compared byte for byte (skipped otherwise).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from hybrid_retrieval.tasks.haystack import (
    PAPER_NEEDLE,
    PAPER_QUESTION,
    EssayHaystack,
    FixedNeedle,
    essay_files,
)
from hybrid_retrieval.tasks.niah import build_trials, needle_text
from hybrid_retrieval.tasks.prompts import build_prompt, chat_user_message

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "authors_prompts"
FILES = sorted(GOLDEN.glob("*.json"))
ESSAYS = Path(__file__).resolve().parents[3] / "shared" / "data" / "paul_graham_essays"
if not ESSAYS.is_dir():
    ESSAYS = Path("/work/shared/data/paul_graham_essays")
needs_essays = pytest.mark.skipif(not ESSAYS.is_dir(), reason="the shared essay copy is not on this machine")

# The authors' own needle strings: their JRT run (RecurrentGemma-9B) used the config's "\nThe best ...\n";
# their base run (RecurrentGemma-2B) stored "\n The best ...\n" (one more space). Ours is the config's.
AUTHORS_NEEDLE = "\n" + PAPER_NEEDLE + "\n"
AUTHORS_BASE_RUN_NEEDLE = "\n " + PAPER_NEEDLE + "\n"


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _their_context(stored: dict) -> str:
    """The CONTEXT of the (first copy of the) block."""
    block = stored["content"].split("\n\nANSWER: ")[0]
    return block.split("\n\nQUESTION: ")[0].removeprefix("CONTEXT: ")


def _variant(path: Path) -> str:
    return "jrt" if path.name.startswith("jrt") else "base"


def _authors_stream(essays: str = "authors") -> str:
    return "".join((ESSAYS / name).read_text(encoding="utf-8") for name in essay_files(essays))


def test_there_are_golden_files_of_both_frames() -> None:
    assert {_variant(p) for p in FILES} == {"base", "jrt"} and len(FILES) >= 6


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_frame_is_byte_identical_given_their_context(path: Path) -> None:
    stored = _load(path)
    assert stored["retrieval_question"] == PAPER_QUESTION
    ours = build_prompt(_their_context(stored), PAPER_QUESTION, _variant(path))
    assert ours == stored["content"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_needle_sits_on_its_own_line(path: Path) -> None:
    stored = _load(path)
    assert needle_text(PAPER_NEEDLE) == AUTHORS_NEEDLE
    if _variant(path) == "jrt":
        assert stored["needle"] == AUTHORS_NEEDLE  # identical to ours
    else:
        # not a deviation of ours: their base run's needle string had one more space than their config
        assert stored["needle"] == AUTHORS_BASE_RUN_NEEDLE
    assert stored["content"].count(stored["needle"]) == (2 if _variant(path) == "jrt" else 1)


@needs_essays
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_haystack_is_their_essays_in_their_order_up_to_the_trim_point(path: Path) -> None:
    stored = _load(path)
    context = _their_context(stored)
    before, _, after = context.partition(stored["needle"])
    haystack = before + after
    assert _authors_stream().startswith(haystack)
    # the sorted order of our former reading would not match (so the test can fail)
    assert not _authors_stream("sorted49").startswith(haystack[:200])
    # the needle follows a "." (their insertion rule backs up to a period token), or starts / ends it
    assert before == "" or after == "" or before.endswith(".")


@needs_essays
def test_our_trials_have_their_structure_with_any_tokenizer() -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Metaspace()
    core.decoder = decoders.Metaspace()
    core.train_from_iterator(
        [(ESSAYS / n).read_text() for n in essay_files("authors")[:3]],
        trainers.BpeTrainer(vocab_size=800, special_tokens=["<unk>", "<bos>"], show_progress=False),
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", bos_token="<bos>")
    trials = build_trials(
        tokenizer,
        haystack=EssayHaystack(ESSAYS),
        needles=FixedNeedle(),
        context_lengths=[677, 1105],
        depths=[0, 33, 100],
        prompt_variant="jrt",
        frame_reserve=200,
        seed=0,
    )
    stream = _authors_stream()
    for trial in trials:
        block = trial.prompt.split("\n\nANSWER: ")[0]
        first, second = block.split("\n\nCONTEXT: ")
        assert first.startswith("CONTEXT: ") and second.split("\n\nQUESTION: ")[0] in first
        context = first.split("\n\nQUESTION: ")[0].removeprefix("CONTEXT: ")
        before, found, after = context.partition(AUTHORS_NEEDLE)
        assert found and stream.startswith(before + after)
        assert trial.prompt.endswith(f"QUESTION: {PAPER_QUESTION}\n\nANSWER: Here is the most relevant sentence in the context: ")


JAMBA_LIKE_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<|bom|><|{{ message['role'] }}|> {{ message['content'] }}"
    "<|eom|>{% endfor %}{% if add_generation_prompt %}<|bom|><|assistant|>{% endif %}"
)


def _authors_jamba_user_message(context: str, jrt: bool) -> str:
    """Their construction (NIAH prompt.py `evaluate_and_log`, config retrieval_question), literally."""
    retrieval_question = "What is the best thing to do in San Francisco? Here is the most relevant sentence in the context:"
    prompt = f"CONTEXT: {context}\n\nQUESTION: {retrieval_question}"
    if jrt:
        prompt += f"\n\n{prompt}"
    return prompt + " Output the most relevant sentence in the context, word by word!"


@pytest.mark.parametrize("jrt", [False, True])
def test_jamba_user_message_is_their_construction_through_a_chat_template(jrt: bool) -> None:
    context = "February 2020What should an essay be?" + AUTHORS_NEEDLE + "Many people would say persuasive."
    expected = _authors_jamba_user_message(context, jrt)
    assert chat_user_message(context, PAPER_QUESTION, repeats=2 if jrt else 1) == expected
    from tokenizers import Tokenizer, models

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel({"<|startoftext|>": 0, "<unk>": 1}, unk_token="<unk>")),
        bos_token="<|startoftext|>",
        unk_token="<unk>",
    )
    tokenizer.chat_template = JAMBA_LIKE_TEMPLATE
    prompt = build_prompt(context, PAPER_QUESTION, "chat_jrt" if jrt else "chat", tokenizer)
    # nothing pre-filled in the assistant turn: the prompt ends at the generation prompt
    assert prompt == f"<|startoftext|><|bom|><|user|> {expected}<|eom|><|bom|><|assistant|>"
    assert prompt.count("Output the most relevant sentence") == 1  # the instruction once, also for JRT


GEMMA = os.environ.get("HYBRID_RETRIEVAL_GEMMA_TOKENIZER")


@needs_essays
@pytest.mark.skipif(
    not GEMMA, reason="token-level check needs a real Gemma tokenizer: set HYBRID_RETRIEVAL_GEMMA_TOKENIZER=<dir>"
)
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_prompt_is_byte_identical_with_the_real_tokenizer(path: Path) -> None:
    stored = _load(path)
    tokenizer = AutoTokenizer.from_pretrained(GEMMA)
    sentence = stored["needle"].strip("\n")  # their base run's needle had a leading space: use theirs
    (trial,) = build_trials(
        tokenizer,
        haystack=EssayHaystack(ESSAYS),
        needles=FixedNeedle(sentence=sentence),
        context_lengths=[stored["context_length"]],
        depths=[stored["depth_percent"]],
        prompt_variant=_variant(path),
        frame_reserve=200,
        seed=0,
    )
    assert trial.prompt == stored["content"]
