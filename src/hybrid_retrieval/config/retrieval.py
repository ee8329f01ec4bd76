"""Sections `haystack` and `retrieval`: the needle test's filler text and the grid every retrieval
experiment shares (an experiment's `grid` overrides part of it)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from hybrid_retrieval.config._base import Strict
from hybrid_retrieval.tasks.haystack import ESSAY_BASE_URL, ESSAY_COMMIT, ESSAY_SHA256

# ------------------------------------------------------------------------------------ haystack and grid


class Haystack(Strict):
    """Where the needle test's filler text comes from."""

    kind: Literal["synthetic", "paul_graham"] = Field("synthetic", description="Filler text: 'synthetic' = the toy language's; 'paul_graham' = the pinned essays (real models only).")
    # synthetic: which filler text of the language. The language itself is the toy model's (its seed);
    # `language_seed` sets it for non-toy models (and overrides it for toys, which then see unknown words).
    seed: int = Field(0, ge=0)
    language_seed: int | None = Field(None, ge=0)
    """synthetic: seed of the language of the filler (None = the toy model's own seed; needed by non-toy models)."""
    # paul_graham: the pinned essays (gkamradt/LLMTest_NeedleInAHaystack), hash-checked.
    base_url: str = ESSAY_BASE_URL
    commit: str = Field(ESSAY_COMMIT, pattern=r"^[0-9a-f]{7,40}$")
    """paul_graham: the commit of gkamradt/LLMTest_NeedleInAHaystack the essays are downloaded at."""
    sha256: str = Field(ESSAY_SHA256, pattern=r"^[0-9a-f]{64}$")
    """paul_graham: sha256 of the essays' concatenation, checked after the download."""
    from_dir: str | None = None  # offline: copy the essays from this folder instead of downloading
    essays: Literal["authors", "sorted49"] = Field(
        "authors",
        description="paul_graham: 'authors' = the authors' 47 essays in their order (useful.txt, newideas.txt, "
        "...; pinned in tasks/data/authors_essay_order.json); 'sorted49' = all 49 files, sorted (deviation)",
    )


class Grid(Strict):
    """The needle-in-a-haystack grid and decoding shared by every retrieval experiment."""

    context_lengths: list[Annotated[int, Field(ge=16)]] = Field(min_length=1, description="Context lengths of the needle test, in tokens (the prompt frame included).")
    depths: list[Annotated[float, Field(ge=0, le=100)]] = Field(min_length=1, description="Needle depths, in percent of the haystack (0 = start, 100 = end).")
    frame_reserve: int = Field(200, ge=0)  # prompt-frame tokens inside each context length
    max_new_tokens: int = Field(40, ge=1, le=4096, description="Greedy decoding budget per trial, in tokens.")
    batch_size: int = Field(1, ge=1, description="Trials per forward pass.")
    trials_per_cell: int = Field(1, ge=1, description="Trials per context length x depth cell.")
    seed: int = Field(0, ge=0, description="Seed of the trials' needles and filler.")
    needle_format: Literal["own_line", "inline"] = Field(
        "own_line",
        description="'own_line' = the authors' needle text \\n<sentence>\\n; 'inline' = joined with spaces (deviation)",
    )
    needle_text: Literal["authors", "ours"] = Field(
        "authors",
        description="'authors' = the paper's needle as the authors' stored prompts carry it per prompt kind "
        "(base: '\\n The best ...\\n', one more space; JRT and chat: '\\nThe best ...\\n'); 'ours' = "
        "'\\n' + sentence + '\\n' for every kind (deviation). Synthetic needles are always '\\n' + sentence + '\\n'",
    )
    scoring: Literal["authors", "word_lcs"] = Field(
        "authors",
        description="'authors' = NIAH eval.py: exact if the cleaned needle is a raw substring, else keyword "
        "points (paper needle); 'word_lcs' = word-boundary exact match and LCS partial points (deviation)",
    )
    insertion: Literal["period_token", "sentence_end"] = Field(
        "period_token",
        description="needle insertion point moved back to the nearest preceding '.' token (authors) or to a "
        "'.' followed by whitespace ('sentence_end', deviation)",
    )
    # Not part of the grid a rule receives (exclude=True: grid dumps leave it out, so it reruns nothing else);
    # the retrieval rules take it as their own param when it is on.
    write_prompts: bool = Field(
        False,
        exclude=True,
        description="Also write the exact prompt of every trial beside each retrieval experiment's rows: "
        "<out stem>.prompts.jsonl keyed by the rows' prompt_hash (as lm-eval's --log_samples; changes no row)",
    )


class GridOverride(Strict):
    """Per-experiment subset of the grid (None = the shared grid's value)."""

    context_lengths: list[Annotated[int, Field(ge=16)]] | None = Field(None, min_length=1, description="This experiment's context lengths (None = retrieval.context_lengths).")
    depths: list[Annotated[float, Field(ge=0, le=100)]] | None = Field(None, min_length=1, description="This experiment's depths (None = retrieval.depths).")
    trials_per_cell: int | None = Field(None, ge=1, description="This experiment's trials per cell (None = retrieval.trials_per_cell).")


