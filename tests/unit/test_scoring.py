"""The paper's retrieval scoring: exact (5) on normalized substring match, else 0..3 partial points."""

from __future__ import annotations

import pytest

from hybrid_retrieval.errors import DataError
from hybrid_retrieval.evaluate import normalize, score_output

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
    needle = "the best thing to do in kala is mope rivu sela ."
    assert score_output("the best thing to do in kala is mope rivu sela . the", needle) == 5
    assert score_output("the best thing to do in kala is mope rivu", needle) == 2  # 9 of 11 words


def test_word_boundaries_matter_for_exact() -> None:
    # "day" must not match inside "days": the needle is a sequence of whole words
    assert score_output("xthe best thing", "the best thing") < 5
    assert score_output("the best things", "the best thing") < 5


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
def test_partial_points(output: str, expected: int) -> None:
    assert score_output(output, NEEDLE) == expected


def test_partial_points_need_words_in_order() -> None:
    shuffled = " ".join(reversed(normalize(NEEDLE).split()))
    assert score_output(shuffled, NEEDLE) == 0


def test_needle_without_words_is_an_error() -> None:
    with pytest.raises(DataError, match="no words"):
        score_output("anything", " ... ")
