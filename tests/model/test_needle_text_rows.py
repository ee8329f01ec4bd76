"""Result rows record the needle string a trial inserted: the authors' for a RecurrentGemma standard prompt
(with the space of their stored base prompts) by default, ours with `needle_text: ours` (real Gemma tokenizer,
the `gemma_tokenizer` fixture; rows built by evaluate's row builder)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from hybrid_retrieval.interventions import InterventionSpec, model_fields
from hybrid_retrieval.jobs.evaluate import RETRIEVAL_SCHEMA, _row
from hybrid_retrieval.tasks.haystack import PAPER_NEEDLE, EssayHaystack, FixedNeedle
from hybrid_retrieval.tasks.niah import build_trials

ESSAYS = Path(__file__).resolve().parents[3] / "shared" / "data" / "paul_graham_essays"
if not ESSAYS.is_dir():
    ESSAYS = Path("/work/shared/data/paul_graham_essays")


@pytest.mark.parametrize(
    ("variant", "needle_text", "expected"),
    [
        ("base", "authors", "\n " + PAPER_NEEDLE + "\n"),
        ("base", "ours", "\n" + PAPER_NEEDLE + "\n"),
        ("jrt", "authors", "\n" + PAPER_NEEDLE + "\n"),
    ],
)
def test_rows_carry_the_inserted_needle_string(loaded, gemma_tokenizer, variant, needle_text, expected) -> None:
    if not ESSAYS.is_dir():
        pytest.skip("the shared essay copy is not on this machine")
    (trial,) = build_trials(
        gemma_tokenizer,
        haystack=EssayHaystack(ESSAYS),
        needles=FixedNeedle(),
        context_lengths=[250],
        depths=[56],
        prompt_variant=variant,
        frame_reserve=200,
        seed=0,
        needle_text=needle_text,
    )
    spec = InterventionSpec(kind="none")
    columns = {**spec.fields(), **model_fields(spec, loaded), "prefill_boundary": "whole_prompt"}
    row = _row(loaded, columns, trial, "output", "baseline", "authors")
    assert (row["needle_text"], row["needle_string"]) == (needle_text, expected)
    frame = pl.DataFrame([row], schema=RETRIEVAL_SCHEMA)  # the columns are part of the results schema
    assert frame["needle_string"].to_list() == [expected]
