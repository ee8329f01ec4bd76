"""Retrieval scoring: the authors' rule (NIAH eval.py) by default, our former word-LCS rule as an option."""

from __future__ import annotations

import pytest

from hybrid_retrieval.errors import ConfigError, DataError
from hybrid_retrieval.tasks.scoring import clean_text, normalize, partial_rule, score_output

NEEDLE = "The best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day."


def test_normalize_lowercases_strips_punctuation_and_collapses_spaces() -> None:
    assert normalize("  Hello,\n\tWORLD!  It's   “fine” — ok. ") == "hello world its fine ok"


def test_exact_when_needle_is_a_substring_of_the_output() -> None:
    output = "Here you go: The best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day. Enjoy"
    assert score_output(output, NEEDLE) == 5


def test_exact_ignores_case_punctuation_and_spacing() -> None:
    output = (
        "the BEST thing to do in san francisco is: eat a sandwich,   and sit in dolores park on a sunny day"
    )
    assert score_output(output, NEEDLE) == 5


def test_synthetic_needle_with_spaced_period() -> None:
    # Not the paper's needle: the authors' keyword points do not exist for it, word-LCS points instead.
    needle = "the best thing to do in kala is mope rivu sela ."
    assert score_output("the best thing to do in kala is mope rivu sela . the", needle) == 5
    assert score_output("the best thing to do in kala is mope rivu", needle) == 2  # 9 of 11 words
    assert partial_rule(needle) == "word_lcs"
    assert partial_rule(NEEDLE) == "authors_keywords"
    assert partial_rule(NEEDLE, "word_lcs") == "word_lcs"


def test_authors_exact_is_a_raw_substring_ours_needs_word_boundaries() -> None:
    # eval.py: `cleaned_reference in cleaned_prediction`, so "days" contains "day"; ours wants whole words
    output = "The best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny days"
    assert score_output(output, NEEDLE) == 5
    assert score_output(output, NEEDLE, "word_lcs") == 2  # 17 of 18 words
    assert score_output("xthe best thing", "the best thing", "word_lcs") < 5
    assert score_output("the best things", "the best thing", "word_lcs") < 5
    assert score_output("the best things", "the best thing") == 5


def test_authors_cleaning_is_their_regex() -> None:
    # [^\w\s] removed (so "_" stays, curly quotes and dashes go), whitespace collapsed
    assert clean_text("  Hello,\n\tWORLD!  It's   “fine” — ok_1. ") == "hello world its fine ok_1"
    assert normalize("ok_1") == "ok1"  # ours drops "_" (ASCII punctuation): the rules differ here


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("", 0),
        ("I do not know.", 0),
        ("eat a sandwich", 1),
        ("eat a sandwich in dolores park", 1.5),
        ("Eat a sandwich and sit in Dolores Park.", 2),
        ("sit in Dolores park on a sunny day", 2),
        ("eat a sandwich and sit in dolores park on a sunny day", 3),
        ("The best thing to do in San Francisco is", 0),  # no keyword: the LCS rule would give 1
    ],
)
def test_authors_keyword_points(output: str, expected: float) -> None:
    assert score_output(output, NEEDLE) == expected


def test_unknown_rule_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="word_lcs"):
        score_output("x", NEEDLE, "lcs")


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("", 0),
        ("I do not know.", 0),
        ("eat a sandwich", 0),  # 3 of 18 words: floor(3 * 3 / 18) = 0
        ("The best thing to do in San Francisco is", 1),  # 8/18 -> 1
        ("The best thing to do in San Francisco is eat a sandwich and sit", 2),  # 13/18 -> 2
        # every word in order, but with an insertion: not exact, so the partial maximum 3
        (
            "The best thing to do in San Francisco is to eat a sandwich and sit in Dolores Park on a sunny day",
            3,
        ),
    ],
)
def test_word_lcs_partial_points(output: str, expected: int) -> None:
    assert score_output(output, NEEDLE, "word_lcs") == expected


def test_word_lcs_partial_points_need_words_in_order() -> None:
    shuffled = " ".join(reversed(normalize(NEEDLE).split()))
    assert score_output(shuffled, NEEDLE, "word_lcs") == 0


def test_needle_without_words_is_an_error() -> None:
    with pytest.raises(DataError, match="no words"):
        score_output("anything", " ... ")
