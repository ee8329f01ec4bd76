"""The synthetic language: deterministic, needle/question format, vocabulary covers every prompt frame."""

import random

import pytest

from hybrid_retrieval.errors import ConfigError
from hybrid_retrieval.tasks import mmlu
from hybrid_retrieval.tasks.prompts import PROMPT_VARIANTS, build_prompt
from hybrid_retrieval.tasks.synthetic import MC_SPLIT_SIZES, MC_TEST_ARRANGEMENTS, SUBJECTS, SyntheticLanguage
from hybrid_retrieval.tasks.tokenizer import build_word_tokenizer, split_words


@pytest.fixture(scope="module")
def language() -> SyntheticLanguage:
    return SyntheticLanguage(0)


@pytest.fixture(scope="module")
def tokenizer(language):
    return build_word_tokenizer(language.vocabulary())


def test_same_seed_same_world_other_seed_other_world(language):
    again = SyntheticLanguage(0)
    assert again.vocabulary() == language.vocabulary()
    assert again.facts == language.facts
    assert again.mc_questions("test") == language.mc_questions("test")
    assert again.haystack(random.Random(5), 80) == language.haystack(random.Random(5), 80)
    assert SyntheticLanguage(1).pools["CITY"] != language.pools["CITY"]


def test_vocabulary_is_lowercase_words_plus_frame_words(language):
    vocab = language.vocabulary()
    assert len(vocab) == len(set(vocab)) > 500
    frame = {"CONTEXT", "QUESTION", "ANSWER", "Here", "Answer", "The", "A", "B", "C", "D", "(", ")", ":", ","}
    assert frame <= set(vocab)
    assert {"following", "multiple", "choice", "questions", "with", "answers", "about", "relevant"} <= set(
        vocab
    )
    assert all(w.islower() for pool in language.pools.values() for w in pool)


def test_needle_and_question_format(language):
    needle = language.needle(random.Random(3))
    words = needle.sentence.split()
    assert words[:6] == ["the", "best", "thing", "to", "do", "in"] and words[6] == needle.key
    assert words[7] == "is" and len(words) == 12 and words[-1] == "."
    assert all(w in language.pools["ACTION"] for w in words[8:11])
    assert needle.question == f"what is the best thing to do in {needle.key} ?"


def test_needles_have_distinct_cities(language):
    needles = language.needles(random.Random(1), 8)
    assert len({n.key for n in needles}) == 8
    with pytest.raises(ConfigError, match="number of needles"):
        language.needles(random.Random(1), 0)


@pytest.mark.parametrize("n_words", [0, 1, 2, 7, 50, 333])
def test_haystack_has_exact_token_count_and_ends_a_sentence(language, n_words):
    text = language.haystack(random.Random(n_words), n_words)
    assert len(split_words(text)) == n_words
    if n_words:
        assert text.endswith(".")


@pytest.mark.parametrize("variant", PROMPT_VARIANTS)
def test_every_prompt_variant_tokenizes_without_unknown_words(language, tokenizer, variant):
    rng = random.Random(0)
    needle = language.needle(rng)
    context = f"{language.haystack(rng, 40)} {needle.sentence} {language.haystack(rng, 40)}"
    ids = tokenizer(build_prompt(context, needle.question, variant, tokenizer)).input_ids
    assert ids[0] == tokenizer.bos_token_id
    assert tokenizer.unk_token_id not in ids
    answer = tokenizer(needle.sentence, add_special_tokens=False).input_ids
    assert tokenizer.decode(answer) == needle.sentence  # decoding joins words with single spaces


def test_mc_questions_are_valid_mmlu_items(language, tokenizer):
    for split, size in MC_SPLIT_SIZES.items():
        questions = language.mc_questions(split)
        per_fact = MC_TEST_ARRANGEMENTS if split == "test" else 1
        assert len(questions) == size * len(SUBJECTS) * per_fact
        for q in questions:
            assert q.answer in mmlu.LETTERS and len(set(q.choices)) == 4
            fact = next(f for f in language.facts if f.question == q.question)
            assert q.choices[mmlu.LETTERS.index(q.answer)] == fact.value
    test = language.mc_questions("test")
    assert len({q.answer for q in test}) == 4  # the answer letter is not always the same
    dev = language.mc_questions("dev")
    prompt = mmlu.format_prompt(
        test[0], [d for d in dev if d.subject == test[0].subject], subject=test[0].subject
    )
    assert tokenizer.unk_token_id not in tokenizer(prompt + " A").input_ids


def test_facts_are_consistent_and_splits_disjoint(language):
    keys = [(f.subject, f.key) for f in language.facts]
    assert len(keys) == len(set(keys))
    capitals = [f.value for f in language.facts if f.subject == "geography"]
    assert len(capitals) == len(set(capitals))


def test_bad_inputs_raise_config_errors(language):
    with pytest.raises(ConfigError, match="seed"):
        SyntheticLanguage(-1)
    with pytest.raises(ConfigError, match="split"):
        language.mc_questions("validation")
    with pytest.raises(ConfigError, match="n_words"):
        language.haystack(random.Random(0), -3)


def test_mc_question_never_returns_an_excluded_item(language):
    fact = next(f for f in language.facts if f.subject == "colours")
    rng = random.Random(0)
    first = language.mc_question(fact, random.Random(0))
    again = language.mc_question(fact, rng, exclude={first})
    assert again != first and again.question == first.question
    assert again.choices[mmlu.LETTERS.index(again.answer)] == fact.value


def test_claims_design_counts_the_toys_mc_test_set(language):
    # claims.design keeps the count as a constant (importing the synthetic language there would pull in
    # transformers at Snakefile parse time); it must follow the split sizes, as the 30 -> 45 change did.
    from hybrid_retrieval.claims.design import TOY_MC_QUESTIONS

    questions = {(q.subject, q.question) for q in language.mc_questions("test")}
    assert TOY_MC_QUESTIONS == len(questions) == MC_SPLIT_SIZES["test"] * len(SUBJECTS)


def test_each_test_fact_is_asked_in_eight_arrangements_sharing_one_question_key(language):
    from hybrid_retrieval.jobs.multiple_choice import question_key

    test = language.mc_questions("test")
    facts = [test[i : i + MC_TEST_ARRANGEMENTS] for i in range(0, len(test), MC_TEST_ARRANGEMENTS)]
    # the first arrangement is the drawn item itself (the single item the MC set held before)
    rng = random.Random(f"mc-{language.seed}-test")
    drawn = [language.mc_question(f, rng) for f in language.facts if f.split == "test"]
    assert [group[0] for group in facts] == drawn
    keys = set()
    for group in facts:
        assert len({(q.subject, q.question) for q in group}) == 1
        assert len({q.choices for q in group}) == MC_TEST_ARRANGEMENTS  # 8 distinct orders
        assert len({frozenset(q.choices) for q in group}) == 1
        value = group[0].choices[mmlu.LETTERS.index(group[0].answer)]
        assert all(q.choices[mmlu.LETTERS.index(q.answer)] == value for q in group)
        assert sorted(q.answer for q in group) == sorted(mmlu.LETTERS * 2)  # every letter twice
        assert len({question_key(q) for q in group}) == 1
        keys.add(question_key(group[0]))
    assert len(keys) == len(facts)  # distinct questions, distinct keys
    # training never sees an exported arrangement: all of them are excluded from the MC training draws
    fact = next(f for f in language.facts if f.split == "test")
    group = facts[[g[0].question for g in facts].index(fact.question)]
    draws = [language.mc_question(fact, random.Random(i), exclude=set(group)) for i in range(300)]
    assert not set(draws) & set(group)
