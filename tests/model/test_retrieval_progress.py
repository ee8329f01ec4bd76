"""A retrieval job's progress in its log: rows done of the total, rate and ETA (before: "N new rows" at
each checkpoint, with no total and no ETA)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from test_evaluate import MAX_NEW, NONE, tiny_trials

from hybrid_retrieval.interventions import InterventionSpec
from hybrid_retrieval.jobs.evaluate import run_conditions


def test_retrieval_logs_rows_of_the_total_with_rate_and_eta(
    loaded, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    trials = tiny_trials(loaded.tokenizer, lengths=(48,), depths=(0, 100))
    ablated = InterventionSpec(kind="entropy_topk", k=0)
    total = 2 * len(trials)
    with caplog.at_level(logging.INFO, logger="hybrid_retrieval.infra.progress"):
        run_conditions(
            loaded, trials, [NONE, ablated], experiment="baseline", max_new_tokens=MAX_NEW, batch_size=1,
            out_path=tmp_path / "r.parquet",
        )  # fmt: skip
    lines = [r.getMessage() for r in caplog.records if r.name == "hybrid_retrieval.infra.progress"]
    prefix = f"baseline on {loaded.name}: "
    assert lines and all(line.startswith(prefix) for line in lines)
    assert f"/{total} rows (" in lines[0] and " rows/s, ETA " in lines[0]
    assert lines[-1].startswith(f"{prefix}{total}/{total} rows (100%)") and "done in" in lines[-1]
