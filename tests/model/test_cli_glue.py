"""`hybrid-retrieval glue`: the score_glue rule's step from the command line, with the config's settings; `--limit`
caps the documents and marks the rows, as for the other model-running subcommands."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import glue_fixture as fx  # noqa: E402

from hybrid_retrieval.cli import main  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SMOKE = str(REPO / "config" / "smoke.yaml")

pytestmark = pytest.mark.slow


def test_glue_subcommand_scores_a_task_and_limit_marks_the_rows(tmp_path: Path) -> None:
    toy = tmp_path / "toy-jamba"
    assert main(["train-toy", "--config", SMOKE, "--model", "toy-jamba", "--out", str(toy)]) == 0
    fx.write_glue_snapshot(tmp_path / "glue", configs=("rte",), n_train=6, n_eval=5)
    argv = ["glue", "--config", SMOKE, "--model", "toy-jamba", "--model-dir", str(toy), "--device", "cpu"]
    argv += ["--dataset", str(tmp_path / "glue"), "--task", "rte", "--k", "H"]
    assert main([*argv, "--out", str(tmp_path / "all.parquet")]) == 0
    assert main([*argv, "--out", str(tmp_path / "two.parquet"), "--limit", "2"]) == 0
    full, limited = pl.read_parquet(tmp_path / "all.parquet"), pl.read_parquet(tmp_path / "two.parquet")
    assert full.height == 5 and "limit" not in full.columns
    assert full["num_shots"].unique().to_list() == [1]  # experiments.glue.num_shots unset: MMLU's (smoke: 1)
    assert limited["limit"].to_list() == [2, 2]
    assert limited.drop("limit").equals(full.head(2))
