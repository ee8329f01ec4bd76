"""GLUE scoring logs like the other long jobs (progress.Progress): count of the total, rate and ETA while it
scores, then one result line with the accuracy, the time and the output path."""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import glue_fixture as fx  # noqa: E402

from hybrid_retrieval.jobs.glue_eval import run_glue  # noqa: E402


def test_glue_scoring_logs_progress_then_a_result_line(tiny_model_dirs, tmp_path, caplog) -> None:
    root = tmp_path / "glue"
    fx.write_glue_snapshot(root, configs=("rte",), n_train=6, n_eval=5)
    out = tmp_path / "rte.parquet"
    model = {"name": "tiny-jamba", "dtype": "float32", "chat_template": False, "prefill_boundary": "auto"}
    with caplog.at_level(logging.INFO, logger="hybrid_retrieval"):
        df = run_glue(
            tiny_model_dirs["jamba"], model=model, dataset=str(root), task="rte", k="H", num_shots=2,
            chat_template=None, batch_size=2, out_path=out,
        )  # fmt: skip
    lines = [r.getMessage() for r in caplog.records]
    label = f"glue/rte {df['condition'][0]} on tiny-jamba"
    progress = [line for line in lines if line.startswith(f"{label}: ") and " sequences " in line]
    # rte: one-token answers, so one sequence per document (5); the last line is the finished count
    assert progress and re.fullmatch(
        rf"{re.escape(label)}: 5/5 sequences \(100%\), .* done in \d+ s", progress[-1]
    )
    correct = int(df["correct"].sum())
    result = [line for line in lines if " documents, accuracy " in line]
    expected = (
        rf"{re.escape(label)}: 5 documents, accuracy {correct / 5:.4f} \({correct} correct\) in \d+ s -> "
    )
    assert len(result) == 1 and re.fullmatch(expected + re.escape(str(out)), result[0]), result
    assert out.is_file()
