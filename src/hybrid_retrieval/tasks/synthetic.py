"""A small seeded synthetic language: the toy models' whole world.

Three kinds of text:
- filler sentences from a tiny grammar over seeded pseudo-words (the haystack),
- needles `the best thing to do in <city> is <w1> <w2> <w3> .`, asked as
  `what is the best thing to do in <city> ?` (the paper's needle, with seeded city and action words),
- parametric facts (`the capital of <land> is <city> .`...), fixed per seed, asked as 4-way multiple-choice
  questions in MMLU's layout: the toys' stand-in for MMLU, scored by the same code as real MMLU.

Everything is lowercase except the prompt-frame words (CONTEXT, QUESTION, Answer, A-D...), which
`vocabulary()` adds by splitting the frame strings themselves, so the tokenizer always covers them.
"""

from __future__ import annotations

import random
from collections.abc import Collection
from dataclasses import dataclass

from hybrid_retrieval.errors import ConfigError
from hybrid_retrieval.tasks import mmlu, prompts
from hybrid_retrieval.tasks.mmlu import LETTERS, MCQuestion
from hybrid_retrieval.tasks.tokenizer import split_words

_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"

# Function words of the filler grammar; content words are seeded pseudo-words.
_FUNCTION_WORDS = ("the", "a", "every", "some", "near", "with", "under", "over", "and", "then", "while", "is")
_FILLER_TEMPLATES: tuple[tuple[str, ...], ...] = (
    ("the", "ADJ", "NOUN", "VERB", "the", "NOUN"),
    ("a", "NOUN", "VERB", "near", "the", "ADJ", "NOUN"),
    ("the", "NOUN", "and", "the", "NOUN", "VERB", "with", "a", "NOUN"),
    ("every", "ADJ", "NOUN", "VERB", "some", "NOUN", "under", "the", "NOUN"),
    ("some", "NOUN", "VERB", "then", "a", "ADJ", "NOUN", "VERB", "over", "the", "NOUN"),
    ("the", "NOUN", "is", "ADJ", "while", "a", "NOUN", "VERB"),
)
_POOL_SIZES = {
    "NOUN": 150,
    "VERB": 80,
    "ADJ": 60,
    "CITY": 64,
    "ACTION": 96,
    "LAND": 48,
    "THING": 48,
    "ANIMAL": 48,
}

NEEDLE_PREFIX = ("the", "best", "thing", "to", "do", "in")
ANSWER_WORDS = 3  # action words per needle

# subject -> (relation word, key pool, value pool); values may repeat across keys except for capitals.
COLOURS = ("red", "blue", "green", "yellow", "black", "white", "orange", "purple", "brown", "grey")
PLACES = (
    "forest",
    "river",
    "desert",
    "mountain",
    "lake",
    "field",
    "cave",
    "sea",
    "island",
    "swamp",
    "valley",
    "farm",
)
SUBJECTS: dict[str, tuple[str, str]] = {
    "geography": ("capital", "LAND"),
    "colours": ("colour", "THING"),
    "animals": ("home", "ANIMAL"),
}
# Few facts, so that each is seen many times in a few minutes of training: with 40 per subject the toys
# stayed at chance on the MC test split (an earlier recipe), and with 165 (issue 21's recipe, word pools of
# 200) both did, the Jamba toy losing retrieval too.
FACTS_PER_SUBJECT = 20
# MMLU has 5 dev questions per subject (the few-shot pool); every other fact is a test question (45 in all:
# a held-back "train" split of 5 per subject, never exported, left the test set at 30). Which splits' facts
# the toys are trained on in MC format is the toy recipe's `mc_train_splits`; the exported items (fixed
# choices and order) never are: training asks the same facts with other choices or orders
# (`SyntheticLanguage.mc_question`).
MC_SPLIT_SIZES = {"dev": 5, "test": 15}
MC_SPLITS = tuple(MC_SPLIT_SIZES)
# Each test question is exported in 8 arrangements of its four choices: the 4 rotations of its drawn order
# and the 4 rotations of that order reversed (every answer letter twice, every neighbour on both sides).
# 45 facts cannot decide a retention ratio near its bound one item each, and more facts do not fit the
# training budget (495 facts: both toys at chance on MC). A fact answered by position or by a lucky guess
# scores in between, so averaging its arrangements removes most of the guessing noise; the claims resample
# a question's arrangements together (rows' `question_key`). Measured on the seed-0 toys (issue 21): the
# 95% interval of the RecurrentGemma toy's retention 0.43 wide with one arrangement, 0.20 with the 4
# rotations (CircularEval's), 0.14 with these 8 and 0.14 with all 24 orders (three times the scoring).
# The few-shot dev items stay one arrangement each, as MMLU's.
MC_TEST_ARRANGEMENTS = 8


@dataclass(frozen=True)
class Needle:
    sentence: str  # "the best thing to do in <city> is <w1> <w2> <w3> ."
    question: str  # "what is the best thing to do in <city> ?"
    key: str  # the city


@dataclass(frozen=True)
class Fact:
    subject: str
    key: str  # the land / thing / animal
    value: str  # the capital / colour / home
    sentence: str  # "the capital of <key> is <value> ."
    question: str  # "what is the capital of <key> ?"
    split: str  # dev | train | test


class SyntheticLanguage:
    """The toy world for one seed: same seed, same words, facts, sentences and questions."""

    def __init__(self, seed: int = 0) -> None:
        if not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"seed must be a non-negative int, got {seed!r}")
        self.seed = seed
        rng = random.Random(f"synthetic-language-{seed}")
        self.pools = self._make_pools(rng)
        self.facts = self._make_facts(rng)

    # ------------------------------------------------------------------------------------------ words

    def _make_pools(self, rng: random.Random) -> dict[str, tuple[str, ...]]:
        reserved = (
            set(_FUNCTION_WORDS) | set(NEEDLE_PREFIX) | set(COLOURS) | set(PLACES) | set(self._frame_words())
        )
        reserved |= {"what", "of", "capital", "colour", "home", *SUBJECTS}
        syllables = [c + v for c in _CONSONANTS for v in _VOWELS]
        seen: set[str] = set()
        pools = {}
        for name, size in _POOL_SIZES.items():
            words: list[str] = []
            while len(words) < size:
                # 2-3 syllables: ~340k possible words, so collisions are rare and just redrawn
                word = "".join(rng.choice(syllables) for _ in range(rng.choice((2, 2, 3))))
                if word not in seen and word not in reserved:
                    seen.add(word)
                    words.append(word)
            pools[name] = tuple(words)
        return pools

    @staticmethod
    def _frame_words() -> list[str]:
        """Words of the needle prompt frames and of lm-eval's MMLU prompt (letters, "Answer:")."""
        example = MCQuestion("x", "x", ("x", "x", "x", "x"), "A")
        texts = [
            prompts.chat_user_message("x", "x"),
            prompts.ANSWER_PREFIX,
            mmlu.question_text(example),
            *(mmlu.description(subject) for subject in SUBJECTS),
            " ".join(LETTERS),
        ]
        return [w for text in texts for w in split_words(text) if w != "x"]

    def vocabulary(self) -> list[str]:
        """Every token the language and the prompt frames use, in a fixed order (no special tokens)."""
        words = [*self._frame_words(), *_FUNCTION_WORDS, *NEEDLE_PREFIX, "what", "?", ".", "of"]
        words += ["capital", "colour", "home", *SUBJECTS, *COLOURS, *PLACES]
        for pool in self.pools.values():
            words += pool
        return list(dict.fromkeys(words))

    # ----------------------------------------------------------------------------------------- filler

    def filler_words(self, rng: random.Random) -> list[str]:
        """One filler sentence as tokens, ending in "."."""
        template = rng.choice(_FILLER_TEMPLATES)
        return [rng.choice(self.pools[slot]) if slot.isupper() else slot for slot in template] + ["."]

    def filler_sentence(self, rng: random.Random) -> str:
        return " ".join(self.filler_words(rng))

    def haystack_sentences(self, rng: random.Random, n_words: int) -> list[list[str]]:
        """Filler sentences totalling exactly `n_words` tokens; the last one is cut short if needed."""
        if n_words < 0:
            raise ConfigError(f"n_words must be >= 0, got {n_words}")
        sentences: list[list[str]] = []
        remaining = n_words
        while remaining > 0:
            words = self.filler_words(rng)
            if len(words) > remaining:
                # Cut the sentence but keep its final "." so the haystack still ends at a sentence end.
                words = words[: remaining - 1] + ["."]
            sentences.append(words)
            remaining -= len(words)
        return sentences

    def haystack(self, rng: random.Random, n_words: int) -> str:
        """Filler text of exactly `n_words` tokens (words and "."), sentences ending in " ."."""
        return " ".join(w for sentence in self.haystack_sentences(rng, n_words) for w in sentence)

    # ---------------------------------------------------------------------------------------- needles

    def needle(self, rng: random.Random, *, city: str | None = None) -> Needle:
        city = city if city is not None else rng.choice(self.pools["CITY"])
        actions = [rng.choice(self.pools["ACTION"]) for _ in range(ANSWER_WORDS)]
        prefix = " ".join(NEEDLE_PREFIX)
        return Needle(
            sentence=f"{prefix} {city} is {' '.join(actions)} .",
            question=f"what is {prefix} {city} ?",
            key=city,
        )

    def needles(self, rng: random.Random, n: int) -> list[Needle]:
        """`n` needles about distinct cities, so each question has one right answer."""
        if not 0 < n <= len(self.pools["CITY"]):
            raise ConfigError(f"number of needles must be in 1..{len(self.pools['CITY'])}, got {n}")
        return [self.needle(rng, city=city) for city in rng.sample(self.pools["CITY"], n)]

    # ------------------------------------------------------------------------------ facts and MC items

    def _make_facts(self, rng: random.Random) -> list[Fact]:
        facts = []
        for subject, (relation, key_pool) in SUBJECTS.items():
            keys = rng.sample(self.pools[key_pool], FACTS_PER_SUBJECT)
            if subject == "geography":  # one country, one capital
                values = rng.sample(self.pools["CITY"], FACTS_PER_SUBJECT)
            else:
                pool = COLOURS if subject == "colours" else PLACES
                values = [rng.choice(pool) for _ in keys]
            splits = [s for s, n in MC_SPLIT_SIZES.items() for _ in range(n)]
            for key, value, split in zip(keys, values, splits, strict=False):
                facts.append(
                    Fact(
                        subject,
                        key,
                        value,
                        f"the {relation} of {key} is {value} .",
                        f"what is the {relation} of {key} ?",
                        split,
                    )
                )
        return facts

    def value_pool(self, subject: str) -> tuple[str, ...]:
        """The possible answers of a subject (distractors are drawn from it)."""
        if subject == "geography":
            return tuple(f.value for f in self.facts if f.subject == "geography")
        if subject == "colours":
            return COLOURS
        if subject == "animals":
            return PLACES
        raise ConfigError(f"unknown subject {subject!r}; choose one of {', '.join(SUBJECTS)}")

    def mc_question(
        self, fact: Fact, rng: random.Random, *, exclude: Collection[MCQuestion] = ()
    ) -> MCQuestion:
        """`fact` as a 4-way question: 3 distinct wrong values of its subject, the answer at a random letter;
        redrawn while it equals an item of `exclude` (training never sees the exported items themselves)."""
        pool = sorted(set(self.value_pool(fact.subject)) - {fact.value})
        while True:
            wrong = rng.sample(pool, 3)
            position = rng.randrange(4)
            choices = wrong[:position] + [fact.value] + wrong[position:]
            question = MCQuestion(fact.subject, fact.question, tuple(choices), LETTERS[position])  # type: ignore[arg-type]
            if question not in exclude:
                return question

    def mc_questions(self, split: str) -> list[MCQuestion]:
        """The fixed multiple-choice items of a split, by subject then fact order: one per dev fact, the
        `MC_TEST_ARRANGEMENTS` arrangements of each test fact's item in a row (`arrangements`)."""
        if split not in MC_SPLITS:
            raise ConfigError(
                f"unknown multiple-choice split {split!r}; choose one of {', '.join(MC_SPLITS)}"
            )
        rng = random.Random(f"mc-{self.seed}-{split}")
        items = [self.mc_question(f, rng) for f in self.facts if f.split == split]
        return items if split == "dev" else [a for q in items for a in arrangements(q)]


def arrangements(question: MCQuestion) -> list[MCQuestion]:
    """`question` with its choices in the 4 rotations of their order, then the 4 rotations of the reversed
    order (the first is `question` itself); the answer letter follows its value."""
    value = question.choices[LETTERS.index(question.answer)]
    out = []
    for order in (list(question.choices), list(reversed(question.choices))):
        for shift in range(4):
            choices = tuple(order[shift:] + order[:shift])
            out.append(MCQuestion(question.subject, question.question, choices, LETTERS[choices.index(value)]))  # type: ignore[arg-type]
    assert len(out) == MC_TEST_ARRANGEMENTS
    return out
