"""The paper grid's duplicate prompts (ARTIFACT.md, "Verdicts with their uncertainty"): with the authors'
200-token frame reserve and period-token insertion, nearby depths collapse into one prompt at 250 tokens.
Counted with the real Gemma tokenizer (RecurrentGemma's) on the authors' essays; the claims count such
trials once (prompt_hash), so this is what "n" means on the real run."""

import collections
from pathlib import Path

import pytest

from hybrid_retrieval.config import load_config_file
from hybrid_retrieval.jobs.evaluate import prompt_hash
from hybrid_retrieval.tasks.haystack import EssayHaystack, FixedNeedle
from hybrid_retrieval.tasks.niah import build_trials

ROOT = Path(__file__).resolve().parents[2]
ESSAYS = ROOT.parent / "shared" / "data" / "paul_graham_essays"
if not ESSAYS.is_dir():
    ESSAYS = Path("/work/shared/data/paul_graham_essays")


@pytest.mark.skipif(not ESSAYS.is_dir(), reason="the shared essay copy is not on this machine")
@pytest.mark.parametrize("variant", ["base", "jrt"])
def test_paper_grid_has_93_distinct_prompts_of_100(gemma_tokenizer, variant):
    grid = load_config_file(ROOT / "config" / "paper.yaml").retrieval
    trials = build_trials(
        gemma_tokenizer,
        haystack=EssayHaystack(ESSAYS, essays="authors"),
        needles=FixedNeedle(),
        context_lengths=grid.context_lengths,
        depths=grid.depths,
        prompt_variant=variant,
        frame_reserve=grid.frame_reserve,
        seed=grid.seed,
        trials_per_cell=grid.trials_per_cell,
    )
    hashes = [prompt_hash(t.input_ids) for t in trials]
    assert len(hashes) == 100 and len(set(hashes)) == 93
    at_250 = collections.Counter(h for t, h in zip(trials, hashes, strict=True) if t.context_length == 250)
    assert len(at_250) == 3 and max(at_250.values()) == 7
    # every other length keeps its 10 depths apart
    for length in grid.context_lengths[1:]:
        assert len({h for t, h in zip(trials, hashes, strict=True) if t.context_length == length}) == 10
