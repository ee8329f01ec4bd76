"""Toy training reports its progress with an ETA (the console is otherwise silent for minutes)."""

import logging
import re
import sys
from pathlib import Path

from hybrid_retrieval.models.toy import train_toy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from tiny_toy import TINY_MODEL, tiny_run  # noqa: E402

TINY = {"model": TINY_MODEL["recurrent_gemma"], **tiny_run(steps=50, tokens_per_step=128, eval_trials=2)}


def test_training_logs_progress_with_eta(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="hybrid_retrieval"):
        train_toy("recurrent_gemma", tmp_path / "toy", **TINY)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("step ")]
    assert lines and re.fullmatch(
        r"step 50/50 \(100%\) length 64 loss \S+ \(\d+ s, about 0 s left\)", lines[-1]
    )


def test_a_resumed_training_says_where_it_resumed_and_counts_its_eta_from_there(
    tmp_path, caplog, monkeypatch
):
    from hybrid_retrieval.models.toy import ToyCorpus

    real, calls = ToyCorpus.batch, []

    def batch(self, *args, **kwargs):  # a kill in step 30 (checkpoints every 25 steps)
        calls.append(1)
        if len(calls) == 30:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(ToyCorpus, "batch", batch)
        try:
            train_toy("recurrent_gemma", tmp_path / "toy", checkpoint_every=25, **TINY)
        except KeyboardInterrupt:
            pass
    with caplog.at_level(logging.INFO, logger="hybrid_retrieval"):
        train_toy("recurrent_gemma", tmp_path / "toy", checkpoint_every=25, **TINY)
    lines = [r.getMessage() for r in caplog.records]
    resumed = [i for i, line in enumerate(lines) if line.startswith("resumed at step 25/50 from ")]
    steps = [i for i, line in enumerate(lines) if line.startswith("step ")]
    assert len(resumed) == 1 and steps and resumed[0] < steps[0]
    assert [lines[i].split()[1] for i in steps] == ["50/50"]  # steps 26-50 only: one progress line
    assert re.fullmatch(r"step 50/50 \(100%\) length 64 loss \S+ \(\d+ s, about 0 s left\)", lines[steps[-1]])
