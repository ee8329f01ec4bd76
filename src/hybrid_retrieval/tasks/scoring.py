"""Scoring a needle-test answer: the authors' rule by default, our former rule as a named option.

`authors` (lamalunderscore/NIAH@2e34c21 `eval.py`): clean = lowercase, remove `[^\\w\\s]`, collapse
whitespace. 5 if the cleaned needle is a substring of the cleaned output (a raw substring: "sunny days"
counts). Otherwise keyword points for the paper's needle: +1 "eat a sandwich", +0.5 "dolores park",
+0.5 more for "sit in dolores park", +1 "on a sunny day" (max 3). The keyword rule exists only for the
paper's needle; for any other needle (the toys' synthetic ones) the partial points fall back to the
word-LCS rule below, and each row says which rule gave its points (`partial_rule`).

`word_lcs` (ours, the package's former rule): punctuation (ASCII and Unicode P*) removed, 5 only if the
needle appears with word boundaries; partial = floor(3 * m / n), m the longest common subsequence of
needle words and output words, n the needle's word count.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections.abc import Sequence

from hybrid_retrieval.errors import ConfigError, DataError

EXACT_SCORE = 5
MAX_PARTIAL = 3
SCORING_RULES: tuple[str, ...] = ("authors", "word_lcs")  # authors' first

# The authors' keyword points for the paper's needle (eval.py `compute_score`), in their order.
_PAPER_KEYWORDS: tuple[tuple[str, float], ...] = (
    ("eat a sandwich", 1.0),
    ("dolores park", 0.5),
    ("on a sunny day", 1.0),
)
_PAPER_NEEDLE_CLEAN = (
    "the best thing to do in san francisco is eat a sandwich and sit in dolores park on a sunny day"
)


def clean_text(text: str) -> str:
    """The authors' cleaning: lowercase, drop `[^\\w\\s]`, collapse whitespace."""
    text = re.sub(r"[^\w\s]", "", text.lower())
    return re.sub(r"\s+", " ", text).strip()


def normalize(text: str) -> str:
    """Ours (`word_lcs`): lowercase, drop punctuation (ASCII and Unicode), collapse whitespace."""
    text = "".join(" " if c.isspace() else c for c in text.lower())
    text = "".join(
        c for c in text if c not in string.punctuation and not unicodedata.category(c).startswith("P")
    )
    return " ".join(text.split())


def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def _lcs_points(target: str, said: str) -> float:
    words = target.split()
    return float(min(MAX_PARTIAL, math.floor(MAX_PARTIAL * _lcs_length(words, said.split()) / len(words))))


def _keyword_points(said: str) -> float:
    points = 0.0
    for phrase, value in _PAPER_KEYWORDS:
        if phrase in said:
            points += value
            if phrase == "dolores park" and "sit in dolores park" in said:
                points += 0.5
    return points


def partial_rule(needle: str, rule: str = "authors") -> str:
    """Which partial-points rule a needle gets: 'authors_keywords' for the paper's needle, else 'word_lcs'."""
    check_rule(rule)
    if rule == "authors" and clean_text(needle) == _PAPER_NEEDLE_CLEAN:
        return "authors_keywords"
    return "word_lcs"


def score_output(output: str, needle: str, rule: str = "authors") -> float:
    """0..5: 5 for the whole needle, else partial points 0..3 (see the module docstring)."""
    check_rule(rule)
    if rule == "authors":
        target, said = clean_text(needle), clean_text(output)
        exact = bool(target) and target in said
    else:
        target, said = normalize(needle), normalize(output)
        exact = bool(target) and f" {target} " in f" {said} "
    if not target:
        raise DataError(f"needle {needle!r} has no words after cleaning; it cannot be scored")
    if exact:
        return float(EXACT_SCORE)
    if partial_rule(needle, rule) == "authors_keywords":
        return _keyword_points(said)
    return _lcs_points(target, said)


def check_rule(rule: str) -> str:
    if rule not in SCORING_RULES:
        raise ConfigError(f"unknown scoring rule {rule!r}; choose one of {', '.join(SCORING_RULES)}")
    return rule
