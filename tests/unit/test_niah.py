"""Needle-in-a-haystack trials: grid, stable ids, needle placement, lengths, spans on the exact ids."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from hybrid_retrieval.errors import ConfigError, DataError
from hybrid_retrieval.tasks.haystack import (
    PAPER_NEEDLE,
    EssayHaystack,
    FixedNeedle,
    SyntheticHaystack,
    SyntheticNeedles,
)
from hybrid_retrieval.tasks.niah import (
    AUTHORS_NEEDLE_STRINGS,
    PAPER_DEPTHS,
    build_trials,
    find_needle_spans,
    insert_needle,
    needle_string,
    trial_id,
)
from hybrid_retrieval.tasks.synthetic import SyntheticLanguage
from hybrid_retrieval.tasks.tokenizer import build_word_tokenizer

# ../shared/ beside the repository (as laid out for developers and CI), else the usual absolute path.
ESSAYS = Path(__file__).resolve().parents[3] / "shared" / "data" / "paul_graham_essays"
if not ESSAYS.is_dir():
    ESSAYS = Path("/work/shared/data/paul_graham_essays")
needs_essays = pytest.mark.skipif(not ESSAYS.is_dir(), reason="the shared essay copy is not on this machine")


@pytest.fixture(scope="module")
def bpe_tokenizer() -> PreTrainedTokenizerFast:
    """A small byte-level BPE trained on the essays: merges spaces into words like GPT/Gemma tokenizers."""
    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1500,
        special_tokens=["<pad>", "<eos>", "<bos>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(
        [p.read_text(encoding="utf-8") for p in sorted(ESSAYS.glob("*.txt"))[:10]], trainer
    )
    core.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 2)])
    return PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>"
    )


@pytest.fixture(scope="module")
def synthetic_tokenizer() -> PreTrainedTokenizerFast:
    return build_word_tokenizer(SyntheticLanguage(0).vocabulary())


def _essay_trials(tokenizer, **overrides):
    settings = dict(
        haystack=EssayHaystack(ESSAYS),
        needles=FixedNeedle(),
        context_lengths=[400, 900],
        depths=PAPER_DEPTHS,
        prompt_variant="base",
        frame_reserve=100,
        seed=0,
    )
    settings.update(overrides)
    return build_trials(tokenizer, **settings)


def test_trial_id_is_a_stable_hash() -> None:
    # pinned: a change here silently orphans every cached result row, so it must be deliberate
    assert trial_id("paul-graham", PAPER_NEEDLE, 250, 11, "base", 0, 0) == trial_id(
        "paul-graham", PAPER_NEEDLE, 250, 11.0, "base", 0, 0
    )
    assert trial_id("paul-graham", PAPER_NEEDLE, 250, 11, "base", 0, 0) == "a2583e295d7bbd1b"
    assert trial_id("paul-graham", PAPER_NEEDLE, 250, 11, "jrt", 0, 0) != trial_id(
        "paul-graham", PAPER_NEEDLE, 250, 11, "base", 0, 0
    )


@needs_essays
def test_essay_grid_is_deterministic_sorted_and_complete(bpe_tokenizer) -> None:
    trials = _essay_trials(bpe_tokenizer)
    again = _essay_trials(bpe_tokenizer)
    assert trials == again
    assert len(trials) == 2 * len(PAPER_DEPTHS)
    assert len({t.trial_id for t in trials}) == len(trials)
    assert [(t.context_length, t.depth) for t in trials] == sorted(
        (length, float(depth)) for length in (400, 900) for depth in PAPER_DEPTHS
    )
    # a cell does not depend on the rest of the grid (the haystack is always the same prefix)
    assert all(t in trials for t in _essay_trials(bpe_tokenizer, context_lengths=[400]))


@needs_essays
def test_lengths_fit_the_budget(bpe_tokenizer) -> None:
    for t in _essay_trials(bpe_tokenizer):
        # haystack + needle = length - reserve (+-2 tokens where the tokenizer merges across the seam),
        # plus the frame, which must fit in the reserve
        assert t.context_length - 100 - 2 <= len(t.input_ids) <= t.context_length
        assert t.input_ids[0] == bpe_tokenizer.bos_token_id
        assert t.input_ids == bpe_tokenizer(t.prompt)["input_ids"]


@needs_essays
def test_needle_span_is_found_on_the_exact_ids(bpe_tokenizer) -> None:
    for t in _essay_trials(bpe_tokenizer):
        assert len(t.needle_spans) == 1
        start, end = t.needle_spans[0]
        # byte-level BPE merges the space before "The" into the token: the leading-space variant
        assert bpe_tokenizer.decode(t.input_ids[start:end]).strip() == PAPER_NEEDLE


@needs_essays
def test_needle_sits_on_its_own_line_after_a_period_token_and_moves_deeper_with_depth(bpe_tokenizer) -> None:
    trials = [t for t in _essay_trials(bpe_tokenizer) if t.context_length == 900]
    period_ids = set(bpe_tokenizer(".", add_special_tokens=False)["input_ids"])
    positions = []
    for t in trials:
        context = t.prompt.removeprefix("CONTEXT: ")
        # the authors' base-prompt needle string: on its own line, one space after the first newline
        assert t.needle_string == "\n " + PAPER_NEEDLE + "\n" and t.needle_text == "authors"
        at = context.find(t.needle_string)
        assert at >= 0, "the authors' needle is on its own line: newline before and after"
        positions.append(at)
        if 0 < t.depth < 100 and at > 0:
            # the authors' rule: the text before the needle ends with a "." token (not necessarily ". ")
            before = bpe_tokenizer(context[:at], add_special_tokens=False)["input_ids"]
            assert before[-1] in period_ids, context[at - 40 : at]
        if t.depth == 0:
            assert at == 0
    assert positions == sorted(positions)
    assert positions[-1] > positions[len(positions) // 2] > 0


@needs_essays
def test_inline_needle_and_sentence_end_rule_remain_as_options(bpe_tokenizer) -> None:
    trials = _essay_trials(
        bpe_tokenizer, context_lengths=[900], needle_format="inline", insertion="sentence_end"
    )
    for t in trials:
        context = t.prompt.removeprefix("CONTEXT: ")
        at = context.find(PAPER_NEEDLE)
        assert "\n" + PAPER_NEEDLE not in context
        if 0 < t.depth < 100 and at > 0:
            assert context[:at].endswith(". "), context[at - 40 : at]
        assert (t.needle_format, t.insertion) == ("inline", "sentence_end")
    # the defaults differ from these options (so the option tests something)
    default = _essay_trials(bpe_tokenizer, context_lengths=[900])
    assert [t.prompt for t in default] != [t.prompt for t in trials]


def test_insert_needle_sentence_end_rule_moves_back_to_the_preceding_sentence_end() -> None:
    text = "one two. three four five. six seven"
    offsets = [(0, 3), (4, 7), (7, 8), (9, 14), (15, 19), (20, 24), (24, 25), (26, 29), (30, 35)]
    old = {"needle_format": "inline", "insertion": "sentence_end"}
    # 9 tokens, depth 50 -> token 4 ("four") -> back to after "two."
    assert insert_needle(text, offsets, 9, "NEEDLE.", 50, **old) == "one two. NEEDLE. three four five. six seven"
    assert insert_needle(text, offsets, 9, "NEEDLE.", 0, **old) == "NEEDLE. one two. three four five. six seven"
    assert insert_needle(text, offsets, 9, "NEEDLE.", 100, **old) == "one two. three four five. six seven NEEDLE."
    # cut to 5 tokens: "one two. three four"
    assert insert_needle(text, offsets, 5, "NEEDLE.", 90, **old) == "one two. NEEDLE. three four"


def test_insert_needle_authors_rule_backs_up_to_any_period_token() -> None:
    # "a.b c. d e": tokens a . b c . d e ; the authors stop after ANY "." token, even "a.|b"
    text = "a.b c. d e"
    offsets = [(0, 1), (1, 2), (2, 3), (4, 5), (5, 6), (7, 8), (9, 10)]
    ids = [10, 1, 11, 12, 1, 13, 14]
    period = frozenset({1})
    put = lambda n, d: insert_needle(text, offsets, n, "N.", d, ids=ids, period_ids=period)  # noqa: E731
    assert put(7, 75) == "a.b c.\nN.\n d e"  # point 5: tokens[:5] end with "." -> stays
    assert put(7, 50) == "a.\nN.\nb c. d e"  # point 3 ("a . b") -> back to after "a." (no space after it)
    assert put(7, 0) == "\nN.\na.b c. d e"
    assert put(7, 100) == "a.b c. d e\nN.\n"
    assert put(3, 20) == "\nN.\na.b"  # point 0: no period before it -> the start
@needs_essays
def test_jrt_has_two_needle_spans(bpe_tokenizer) -> None:
    (trial,) = _essay_trials(bpe_tokenizer, context_lengths=[300], depths=[50], prompt_variant="jrt")
    assert len(trial.needle_spans) == 2
    for start, end in trial.needle_spans:
        assert bpe_tokenizer.decode(trial.input_ids[start:end]).strip() == PAPER_NEEDLE
    assert len(trial.input_ids) <= 2 * 300


def test_span_falls_back_to_offsets_when_the_boundary_merges(bpe_tokenizer) -> None:
    # "xThe" merges the needle's first letters with the text before it: no id-sequence match, but the
    # character offsets still locate the tokens that carry the needle
    prompt = f"CONTEXT: abcx{PAPER_NEEDLE}zzz"
    ids = bpe_tokenizer(prompt)["input_ids"]
    (span,) = find_needle_spans(bpe_tokenizer, prompt, ids, PAPER_NEEDLE, copies=1)
    assert PAPER_NEEDLE in bpe_tokenizer.decode(ids[span[0] : span[1]])


def test_synthetic_trials_draw_a_needle_per_trial(synthetic_tokenizer) -> None:
    settings = dict(
        haystack=SyntheticHaystack(language_seed=0, seed=1),
        needles=SyntheticNeedles(language_seed=0),
        context_lengths=[64, 128],
        depths=[0, 50, 100],
        prompt_variant="base",
        frame_reserve=32,
        seed=3,
        trials_per_cell=2,
    )
    trials = build_trials(synthetic_tokenizer, **settings)
    assert trials == build_trials(synthetic_tokenizer, **settings)
    assert len(trials) == 12 and len({t.trial_id for t in trials}) == 12
    assert len({t.needle for t in trials}) > 6  # fresh needles
    unk = synthetic_tokenizer.unk_token_id
    for t in trials:
        assert unk not in t.input_ids
        ((start, end),) = t.needle_spans
        assert synthetic_tokenizer.decode(t.input_ids[start:end]) == t.needle
        # the word-level tokenizer makes the budget exact: haystack + needle = length - reserve
        frame = len(t.input_ids) - (t.context_length - 32)
        assert 0 < frame <= 32
        assert t.needle.startswith("the best thing to do in") and t.question.startswith("what is")


def test_same_seed_same_synthetic_needle_independent_of_grid(synthetic_tokenizer) -> None:
    common = dict(
        haystack=SyntheticHaystack(),
        needles=SyntheticNeedles(),
        prompt_variant="base",
        frame_reserve=32,
        seed=0,
    )
    small = build_trials(synthetic_tokenizer, context_lengths=[64], depths=[50], **common)
    large = build_trials(synthetic_tokenizer, context_lengths=[64, 256], depths=[0, 50], **common)
    assert small[0] in large


@pytest.mark.parametrize(
    ("overrides", "error", "match"),
    [
        (dict(depths=[50, 101]), ConfigError, "101"),
        (dict(depths=[-1]), ConfigError, "outside 0..100"),
        (dict(prompt_variant="fancy"), ConfigError, "fancy"),
        (dict(context_lengths=[40]), ConfigError, "context length 40"),
        (dict(context_lengths=[0]), ConfigError, "positive"),
        (dict(context_lengths=[128], max_positions=100), ConfigError, "100 positions"),
        (dict(frame_reserve=5), ConfigError, "raise frame_reserve"),
        (dict(trials_per_cell=0), ConfigError, "trials_per_cell"),
    ],
)
def test_bad_inputs_fail_before_any_trial(synthetic_tokenizer, overrides, error, match) -> None:
    settings = dict(
        haystack=SyntheticHaystack(),
        needles=SyntheticNeedles(),
        context_lengths=[64],
        depths=[50],
        prompt_variant="base",
        frame_reserve=32,
        seed=0,
    )
    settings.update(overrides)
    with pytest.raises(error, match=match):
        build_trials(synthetic_tokenizer, **settings)


def test_empty_haystack_is_a_data_error(bpe_tokenizer) -> None:
    class Empty:
        haystack_id = "empty"

        def text(self, replicate, n_tokens, count_tokens):
            return ""

    with pytest.raises(DataError, match="empty"):
        build_trials(
            bpe_tokenizer,
            haystack=Empty(),
            needles=FixedNeedle(),
            context_lengths=[300],
            depths=[50],
            prompt_variant="base",
            frame_reserve=100,
            seed=0,
        )


def test_fixed_needle_ignores_the_rng() -> None:
    assert FixedNeedle().needle(random.Random(1)) == FixedNeedle().needle(random.Random(2))


def test_needle_string_is_the_authors_per_prompt_kind_and_ours_on_request() -> None:
    ours = "\n" + PAPER_NEEDLE + "\n"
    # their stored base prompts (RecurrentGemma-2B run) carry one more space; JRT and the Jamba config do not
    assert needle_string(PAPER_NEEDLE, prompt_variant="base") == "\n " + PAPER_NEEDLE + "\n" != ours
    for variant in ("jrt", "chat", "chat_jrt"):
        assert needle_string(PAPER_NEEDLE, prompt_variant=variant) == ours == AUTHORS_NEEDLE_STRINGS[variant]
    for variant in AUTHORS_NEEDLE_STRINGS:
        assert needle_string(PAPER_NEEDLE, prompt_variant=variant, needle_text="ours") == ours
        assert needle_string(PAPER_NEEDLE, "inline", prompt_variant=variant) == PAPER_NEEDLE
    # any other sentence has no authors' string: ours, whatever the option
    assert needle_string("Zed is 7.", prompt_variant="base") == "\nZed is 7.\n"
    with pytest.raises(ConfigError, match="needle_text 'theirs'"):
        needle_string(PAPER_NEEDLE, needle_text="theirs")


@needs_essays
def test_needle_text_ours_restores_our_string_in_the_prompt(bpe_tokenizer) -> None:
    authors = _essay_trials(bpe_tokenizer, context_lengths=[400], depths=[0, 50, 100])
    ours = _essay_trials(bpe_tokenizer, context_lengths=[400], depths=[0, 50, 100], needle_text="ours")
    for a, o in zip(authors, ours, strict=True):
        assert (a.needle_text, o.needle_text) == ("authors", "ours")
        assert a.needle_string == "\n " + PAPER_NEEDLE + "\n" and o.needle_string == "\n" + PAPER_NEEDLE + "\n"
        assert a.needle_string in a.prompt and o.needle_string in o.prompt and a.needle_string not in o.prompt
        assert a.prompt != o.prompt
    with pytest.raises(ConfigError, match="needle_text"):
        _essay_trials(bpe_tokenizer, context_lengths=[400], needle_text="theirs")


def test_synthetic_needles_do_not_depend_on_needle_text(synthetic_tokenizer) -> None:
    settings = dict(
        haystack=SyntheticHaystack(language_seed=0),
        needles=SyntheticNeedles(language_seed=0),
        context_lengths=[128],
        depths=[0, 50, 100],
        prompt_variant="base",
        frame_reserve=40,
        seed=0,
    )
    authors = build_trials(synthetic_tokenizer, **settings)
    ours = build_trials(synthetic_tokenizer, **settings, needle_text="ours")
    assert [t.input_ids for t in authors] == [t.input_ids for t in ours]
    assert all(t.needle_string == f"\n{t.needle}\n" for t in authors)
