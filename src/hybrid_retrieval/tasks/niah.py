"""Needle-in-a-haystack trials: the paper's grid of context lengths x needle depths, built on exact ids.

Per trial (the authors' `Prompter.insert_needle`, lamalunderscore/NIAH@2e34c21 `prompt.py`):
1. the needle text is the sentence on its own line, `"\n" + sentence + "\n"` (`needle_format: own_line`;
   `inline`, our former reading, joins it with spaces); with `needle_text: authors` (the default) the
   paper's needle is the authors' own string for the prompt variant, exactly as their stored prompts
   carry it (`AUTHORS_NEEDLE_STRINGS`: the base prompts have `"\n The best ...\n"`, one more space);
2. the haystack is cut to `context_length - frame_reserve - len(needle text)` tokens of the model's
   tokenizer, so haystack + needle fill the length minus the prompt frame's reserve;
3. the insertion point is `int(n * depth / 100)` haystack tokens in, moved back until the token before it
   is a "." token (`insertion: period_token`, the authors' rule; none -> the start of the text;
   `sentence_end`, our former reading, needs a "." followed by whitespace); depth 100 appends the needle;
4. the prompt is built with `prompts.build_prompt`, tokenized with the model's tokenizer, and the needle
   sentence's token span(s) are located on those exact input ids (one span per copy: JRT has two).

Everything is deterministic: the rng of a trial is seeded by (seed, replicate, length, depth), and the
trial id is a hash of what defines the trial, so the same config gives the same ids on every machine.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hybrid_retrieval.errors import ConfigError, DataError
from hybrid_retrieval.tasks.haystack import PAPER_NEEDLE, HaystackSource, NeedleSource
from hybrid_retrieval.tasks.prompts import PROMPT_VARIANTS, build_prompt

# The paper's grid: round(linspace(250, 4096, 10)) tokens x round(linspace(0, 100, 10)) percent.
PAPER_CONTEXT_LENGTHS: tuple[int, ...] = (250, 677, 1105, 1532, 1959, 2387, 2814, 3241, 3669, 4096)
PAPER_DEPTHS: tuple[float, ...] = (0, 11, 22, 33, 44, 56, 67, 78, 89, 100)
PAPER_FRAME_RESERVE = 200

_SENTENCE_END = re.compile(r"\.(?=\s)")

NEEDLE_FORMATS: tuple[str, ...] = ("own_line", "inline")  # authors' first
INSERTION_RULES: tuple[str, ...] = ("period_token", "sentence_end")  # authors' first
NEEDLE_TEXTS: tuple[str, ...] = ("authors", "ours")  # authors' first

# The paper needle's string as the authors' runs inserted it, per prompt variant (own_line format):
# - base: every RG/prompts_base/*.json of lamalunderscore/NIAH@2e34c21 (their RecurrentGemma-2B run) holds
#   "\n The best ...\n" in its `needle` field and its content: one space after the first newline, so in
#   Gemma's pieces the sentence starts with "▁The", not "The";
# - jrt: every RG/prompts_base_jrt/*.json (their RecurrentGemma-9B run) holds "\nThe ...\n" (no space);
# - chat, chat_jrt: no stored prompts; their Jamba config (NIAH@65d861a, @4a65fbc) has "\nThe ...\n".
# Only the base string differs from ours ("\n" + sentence + "\n"); other needles (the toys' synthetic
# ones, a custom FixedNeedle) have no authors' string and are always ours.
AUTHORS_NEEDLE_STRINGS: dict[str, str] = {
    "base": f"\n {PAPER_NEEDLE}\n",
    "jrt": f"\n{PAPER_NEEDLE}\n",
    "chat": f"\n{PAPER_NEEDLE}\n",
    "chat_jrt": f"\n{PAPER_NEEDLE}\n",
}


def needle_string(
    sentence: str,
    needle_format: str = "own_line",
    *,
    prompt_variant: str | None = None,
    needle_text: str = "authors",
) -> str:
    """The exact text inserted into the haystack: `"\n" + sentence + "\n"` (own_line) or the sentence
    (inline); with needle_text="authors" and a `prompt_variant`, the paper's needle is the authors' string
    for that variant (`AUTHORS_NEEDLE_STRINGS`)."""
    if needle_text not in NEEDLE_TEXTS:
        raise ConfigError(f"unknown needle_text {needle_text!r}; choose one of {', '.join(NEEDLE_TEXTS)}")
    if needle_format == "own_line":
        if needle_text == "authors" and sentence == PAPER_NEEDLE and prompt_variant in AUTHORS_NEEDLE_STRINGS:
            return AUTHORS_NEEDLE_STRINGS[prompt_variant]
        return f"\n{sentence}\n"
    if needle_format == "inline":
        return sentence
    raise ConfigError(f"unknown needle_format {needle_format!r}; choose one of {', '.join(NEEDLE_FORMATS)}")


@dataclass(frozen=True)
class Trial:
    trial_id: str  # sha1 of (haystack id, needle, context_length, depth, variant, seed, replicate)[:16]
    context_length: int  # target prompt length in model tokens (per context copy for JRT)
    depth: float  # percent 0..100
    prompt_variant: str
    prompt: str
    needle: str  # the needle sentence (the expected answer)
    question: str
    input_ids: list[int]  # exact model input ids of the prompt (with BOS if the tokenizer adds one)
    needle_spans: list[tuple[int, int]]  # [start, end) positions of each needle copy in input_ids
    haystack_id: str = ""  # the haystack source (e.g. "paul-graham-authors", "synthetic-0-0")
    needle_format: str = "own_line"
    insertion: str = "period_token"
    needle_text: str = "authors"  # the option: the authors' needle string where they have one, or ours
    needle_string: str = ""  # the exact text inserted into the haystack (the needle and its newlines)


def trial_id(
    haystack_id: str, needle: str, context_length: int, depth: float, variant: str, seed: int, replicate: int
) -> str:
    key = json.dumps(
        [haystack_id, needle, int(context_length), float(depth), variant, int(seed), int(replicate)]
    )
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


def _count_tokens(tokenizer) -> Callable[[str], int]:
    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    return count


def _adds_own_bos(tokenizer, prompt: str) -> bool:
    """Chat templates usually write the BOS token themselves: then the tokenizer must not add another."""
    bos = getattr(tokenizer, "bos_token", None)
    return bool(bos) and prompt.startswith(bos)


def encode_prompt(tokenizer, prompt: str) -> list[int]:
    """The exact model input ids of a prompt (one BOS, whether the tokenizer or the template adds it)."""
    return list(tokenizer(prompt, add_special_tokens=not _adds_own_bos(tokenizer, prompt))["input_ids"])


def _find_all(haystack: Sequence[int], needle: Sequence[int]) -> list[tuple[int, int]]:
    spans, n, start = [], len(needle), 0
    while n and start + n <= len(haystack):
        if list(haystack[start : start + n]) == list(needle):
            spans.append((start, start + n))
            start += n
        else:
            start += 1
    return spans


def find_needle_spans(
    tokenizer, prompt: str, input_ids: Sequence[int], needle: str, copies: int
) -> list[tuple[int, int]]:
    """[start, end) token spans of the needle in `input_ids`, exactly `copies` of them, or [].

    First the needle's own ids (as written, and with a leading space: SentencePiece and BPE tokenizers
    merge the space before a word into its token). If the boundary tokens merge with the neighbouring
    text so neither id sequence occurs, fall back to the tokens whose character offsets overlap the
    needle's characters in the prompt (a span then includes the merged boundary token).
    """
    for variant in (needle, " " + needle):
        ids = tokenizer(variant, add_special_tokens=False)["input_ids"]
        spans = _find_all(input_ids, ids)
        if len(spans) == copies:
            return spans
    if not getattr(tokenizer, "is_fast", False):
        return []
    enc = tokenizer(
        prompt, add_special_tokens=not _adds_own_bos(tokenizer, prompt), return_offsets_mapping=True
    )
    if list(enc["input_ids"]) != list(input_ids):
        return []
    offsets = enc["offset_mapping"]
    spans, char = [], prompt.find(needle)
    while char != -1:
        end_char = char + len(needle)
        hits = [i for i, (a, b) in enumerate(offsets) if b > a and a < end_char and b > char]
        if hits:
            spans.append((hits[0], hits[-1] + 1))
        char = prompt.find(needle, end_char)
    return spans if len(spans) == copies else []


def insert_needle(
    haystack: str,
    offsets: Sequence[tuple[int, int]],
    n_tokens: int,
    needle: str,
    depth: float,
    *,
    needle_format: str = "own_line",
    insertion: str = "period_token",
    ids: Sequence[int] = (),
    period_ids: frozenset[int] = frozenset(),
    text: str | None = None,
) -> str:
    """The first `n_tokens` haystack tokens with the needle sentence at `depth` percent.

    `ids`/`period_ids`: the haystack's token ids and the ids of "." (needed by `period_token`); `text`:
    the exact needle string to insert (None = `needle_string(needle, needle_format)`)."""
    text = needle_string(needle, needle_format) if text is None else text
    cut = haystack[: offsets[n_tokens - 1][1]] if n_tokens > 0 else ""
    if insertion == "period_token":
        if depth >= 100:
            return cut + text
        point = int(n_tokens * depth / 100)
        while point > 0 and ids[point - 1] not in period_ids:  # the authors' loop, on the same tokens
            point -= 1
        pos = offsets[point - 1][1] if point > 0 else 0
        return cut[:pos] + text + cut[pos:]
    if insertion != "sentence_end":
        raise ConfigError(f"unknown insertion rule {insertion!r}; choose one of {', '.join(INSERTION_RULES)}")
    if needle_format == "own_line":
        if depth >= 100 or not cut:
            return cut + text
    elif depth >= 100 or not cut:
        return f"{cut} {needle}" if cut else needle
    point = int(n_tokens * depth / 100)
    char = offsets[point][0] if point < n_tokens else len(cut)
    # The last sentence end at or before the insertion point; none -> the very start.
    ends = [m.end() for m in _SENTENCE_END.finditer(cut, 0, char + 1)]
    pos = ends[-1] if ends else 0
    if needle_format == "own_line":
        return cut[:pos] + text + cut[pos:]
    if pos == 0:
        return f"{needle} {cut}"
    return f"{cut[:pos]} {needle}{cut[pos:]}"


def _check_grid(
    context_lengths, depths, prompt_variant: str, frame_reserve: int, trials_per_cell: int
) -> None:
    if prompt_variant not in PROMPT_VARIANTS:
        raise ConfigError(
            f"unknown prompt variant {prompt_variant!r}; choose one of {', '.join(PROMPT_VARIANTS)}"
        )
    if not context_lengths or not depths:
        raise ConfigError("context_lengths and depths must each list at least one value")
    for length in context_lengths:
        if int(length) != length or length <= 0:
            raise ConfigError(f"context length {length!r} must be a positive integer number of tokens")
    for depth in depths:
        if not 0 <= depth <= 100:
            raise ConfigError(f"needle depth {depth!r} is outside 0..100 (percent of the haystack)")
    if frame_reserve < 0:
        raise ConfigError(f"frame_reserve must be >= 0 tokens, got {frame_reserve}")
    if trials_per_cell < 1:
        raise ConfigError(f"trials_per_cell must be >= 1, got {trials_per_cell}")


def build_trials(
    tokenizer,
    *,
    haystack: HaystackSource,
    needles: NeedleSource,
    context_lengths: Sequence[int],
    depths: Sequence[float],
    prompt_variant: str,
    frame_reserve: int,
    seed: int,
    trials_per_cell: int = 1,
    max_positions: int | None = None,
    needle_format: str = "own_line",
    insertion: str = "period_token",
    needle_text: str = "authors",
) -> list[Trial]:
    """All trials of the grid, sorted by (context_length, depth, trial_id). Validates before building.

    `needle_text`: "authors" = the paper's needle as the authors' string for the prompt variant
    (`AUTHORS_NEEDLE_STRINGS`), "ours" = `"\n" + sentence + "\n"` for every variant.

    `max_positions`: the longest input the model takes (e.g. `config.max_position_embeddings`); None =
    no limit beyond the tokenizer's `model_max_length` when that is a real (not sentinel) value.
    """
    _check_grid(context_lengths, depths, prompt_variant, frame_reserve, trials_per_cell)
    needle_string("x", needle_format, needle_text=needle_text)  # validates the names before any tokenizing
    if insertion not in INSERTION_RULES:
        raise ConfigError(f"unknown insertion rule {insertion!r}; choose one of {', '.join(INSERTION_RULES)}")
    period_ids = frozenset(tokenizer(".", add_special_tokens=False)["input_ids"])
    if max_positions is None:
        model_max = getattr(tokenizer, "model_max_length", None)
        max_positions = model_max if isinstance(model_max, int) and model_max < 10**9 else None
    copies = 2 if prompt_variant.endswith("jrt") else 1
    count = _count_tokens(tokenizer)
    longest = max(int(length) for length in context_lengths)
    if max_positions is not None and longest * copies > max_positions:
        raise ConfigError(
            f"context length {longest} ({copies} cop{'ies' if copies > 1 else 'y'} of the context) exceeds the "
            f"model's {max_positions} positions; drop it from context_lengths"
        )

    trials: list[Trial] = []
    for replicate in range(trials_per_cell):
        text = haystack.text(replicate, max(longest - frame_reserve, 1), count)
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        offsets = [tuple(o) for o in enc["offset_mapping"]]
        hay_ids = list(enc["input_ids"])
        if not offsets:
            raise DataError(
                f"haystack {haystack.haystack_id!r} is empty; check the essay folder or the synthetic language"
            )
        for length in sorted({int(x) for x in context_lengths}):
            for depth in sorted({float(d) for d in depths}):
                rng = random.Random(f"niah-{seed}-{replicate}-{length}-{depth}")
                needle = needles.needle(rng)
                inserted = needle_string(
                    needle.sentence, needle_format, prompt_variant=prompt_variant, needle_text=needle_text
                )
                needle_tokens = count(inserted)
                n_hay = length - frame_reserve - needle_tokens
                if n_hay <= 0:
                    raise ConfigError(
                        f"context length {length} leaves no room for the haystack: the frame reserve "
                        f"({frame_reserve}) and the needle ({needle_tokens} tokens) take it all; use a "
                        "longer context length or a smaller frame_reserve"
                    )
                if n_hay > len(offsets):
                    raise DataError(
                        f"haystack {haystack.haystack_id!r} has {len(offsets)} tokens, context length {length} needs {n_hay}"
                    )
                context = insert_needle(
                    text,
                    offsets,
                    n_hay,
                    needle.sentence,
                    depth,
                    needle_format=needle_format,
                    insertion=insertion,
                    ids=hay_ids,
                    period_ids=period_ids,
                    text=inserted,
                )
                prompt = build_prompt(context, needle.question, prompt_variant, tokenizer)
                input_ids = encode_prompt(tokenizer, prompt)
                tid = trial_id(
                    haystack.haystack_id, needle.sentence, length, depth, prompt_variant, seed, replicate
                )
                if len(input_ids) > length * copies:
                    raise ConfigError(
                        f"trial {tid} (length {length}, depth {depth}): the prompt has {len(input_ids)} tokens, more than "
                        f"{length * copies}; the prompt frame needs more than frame_reserve={frame_reserve} tokens, "
                        "raise frame_reserve"
                    )
                spans = find_needle_spans(tokenizer, prompt, input_ids, needle.sentence, copies)
                if not spans:
                    raise DataError(
                        f"trial {tid} (length {length}, depth {depth}): needle {needle.sentence!r} not found "
                        f"{copies} time(s) in the prompt's input ids; the tokenizer splits it differently in context"
                    )
                trials.append(
                    Trial(
                        tid,
                        length,
                        depth,
                        prompt_variant,
                        prompt,
                        needle.sentence,
                        needle.question,
                        input_ids,
                        spans,
                        haystack.haystack_id,
                        needle_format,
                        insertion,
                        needle_text,
                        inserted,
                    )
                )
    trials.sort(key=lambda t: (t.context_length, t.depth, t.trial_id))  # the result rows' order
    return trials
