"""Resumable toy training: a run killed (SIGKILL) or interrupted mid-training resumes from its last checkpoint
and ends with the weights of an uninterrupted run, bit for bit; a resume that skips one of the restores
does not (so the comparison would catch it); the checkpoint interval does not change the weights; a
checkpoint of other parameters or code is ignored, and the log says so."""

from __future__ import annotations

import json
import logging
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from hybrid_retrieval.errors import ConfigError
from hybrid_retrieval.models.toy import ToyCorpus, make_config, train_toy
from hybrid_retrieval.models.toy.checkpoint import TrainingCheckpoint, checkpoint_key

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from tiny_toy import TINY_MODEL, tiny_run  # noqa: E402

RUN = tiny_run(steps=24, warmup_steps=3, curriculum=[[48, 0.5], [64, 0.5]], eval_trials=2)
# Attention dropout draws from torch's global RNG every step: a resume must restore it.
DROPOUT = {**TINY_MODEL["jamba"], "attention_dropout": 0.2}
EVERY, STOP = 5, 13  # checkpoints at steps 5 and 10; the interrupted run stops in step 13


class Interrupted(Exception):
    pass


def _train(out: Path, arch: str = "jamba", model: dict | None = None, **kwargs) -> dict:
    return train_toy(arch, out, seed=0, model=model or TINY_MODEL[arch], **{**RUN, **kwargs})


def _interrupt(monkeypatch: pytest.MonkeyPatch, out: Path, arch: str = "jamba", **kwargs) -> None:
    """Train until step STOP asks for its batch, then stop as a kill would (no cleanup of the checkpoint)."""
    real, calls = ToyCorpus.batch, []

    def batch(self, *args, **kw):
        calls.append(1)
        if len(calls) == STOP:
            raise Interrupted
        return real(self, *args, **kw)

    with monkeypatch.context() as m:
        m.setattr(ToyCorpus, "batch", batch)
        with pytest.raises(Interrupted):
            _train(out, arch, checkpoint_every=EVERY, **kwargs)
    assert not out.exists()
    assert len(list((out.parent / ".progress").glob("*.train.pt"))) == 1


def _resumed_at(caplog: pytest.LogCaptureFixture) -> list[int]:
    return [
        int(m.group(1))
        for r in caplog.records
        if (m := re.fullmatch(r"resumed at step (\d+)/\d+ from .*", r.getMessage()))
    ]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Weights hashes of uninterrupted runs without any checkpoint."""
    root = tmp_path_factory.mktemp("reference")
    hashes = {arch: _train(root / arch, arch, checkpoint_every=None)["weights_sha256"] for arch in TINY_MODEL}
    hashes["dropout"] = _train(root / "dropout", model=DROPOUT, checkpoint_every=None)["weights_sha256"]
    return hashes


@pytest.mark.parametrize("arch", list(TINY_MODEL))
def test_interrupted_training_resumes_to_the_uninterrupted_weights(
    arch, reference, tmp_path, monkeypatch, caplog
):
    out = tmp_path / "runs" / "toy"
    _interrupt(monkeypatch, out, arch)
    with caplog.at_level(logging.INFO, logger="hybrid_retrieval"):
        meta = _train(out, arch, checkpoint_every=EVERY)
    assert _resumed_at(caplog) == [10]
    assert meta["resumed_at_step"] == 10
    assert meta["weights_sha256"] == reference[arch]
    assert sorted(p.name for p in out.parent.iterdir()) == ["toy"]  # checkpoint and its folder removed


@pytest.mark.parametrize(
    ("skipped", "target", "name", "model"),
    [
        ("the data stream's position", random.Random, "setstate", None),
        ("AdamW's moments", torch.optim.Optimizer, "load_state_dict", None),
        ("the learning-rate schedule", torch.optim.lr_scheduler.LambdaLR, "load_state_dict", None),
        ("torch's RNG (dropout)", torch, "set_rng_state", DROPOUT),
    ],
)
def test_a_resume_that_skips_a_restore_ends_with_other_weights(
    skipped, target, name, model, reference, tmp_path, monkeypatch, caplog
):
    """The weights comparison catches a missing restore: each skipped here alone changes the weights."""
    out = tmp_path / "toy"
    _interrupt(monkeypatch, out, model=model)
    monkeypatch.setattr(target, name, lambda *args, **kwargs: None)
    with caplog.at_level(logging.INFO, logger="hybrid_retrieval"):
        meta = _train(out, model=model, checkpoint_every=EVERY)
    assert _resumed_at(caplog) == [10]
    assert meta["weights_sha256"] != reference["dropout" if model else "jamba"], skipped


@pytest.mark.parametrize("every", [1, 7, 100])
def test_the_checkpoint_interval_does_not_change_the_weights(every, reference, tmp_path):
    assert _train(tmp_path / "toy", checkpoint_every=every)["weights_sha256"] == reference["jamba"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy"]


def test_with_dropout_an_uninterrupted_run_is_reproducible_and_a_resume_matches_it(
    reference, tmp_path, monkeypatch
):
    _interrupt(monkeypatch, tmp_path / "toy", model=DROPOUT)
    assert (
        _train(tmp_path / "toy", model=DROPOUT, checkpoint_every=EVERY)["weights_sha256"]
        == reference["dropout"]
    )


@pytest.mark.parametrize("change", ["lr", "seed", "code"])
def test_a_checkpoint_of_other_parameters_or_code_is_ignored_and_the_log_says_so(
    change, tmp_path, monkeypatch, caplog
):
    out = tmp_path / "toy"
    _interrupt(monkeypatch, out)
    (stale,) = (out.parent / ".progress").glob("*.train.pt")
    kwargs: dict = {"checkpoint_every": EVERY}
    if change == "lr":
        kwargs["lr"] = 2e-3
    elif change == "code":
        import hybrid_retrieval.infra.workflow_support as support

        monkeypatch.setattr(support, "code_digest", lambda *a, **k: "0" * 16)
    with caplog.at_level(logging.INFO, logger="hybrid_retrieval"):
        if change == "seed":
            train_toy("jamba", out, seed=1, model=TINY_MODEL["jamba"], **RUN, **kwargs)
        else:
            _train(out, **kwargs)
    messages = [r.getMessage() for r in caplog.records]
    assert any(
        m.startswith(f"ignoring the training checkpoint {stale}: it was made with other") for m in messages
    )
    assert _resumed_at(caplog) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy"]


def test_an_unreadable_checkpoint_is_reported_and_training_starts_over(reference, tmp_path, caplog):
    out = tmp_path / "toy"
    checkpoint = TrainingCheckpoint.beside(
        out, "jamba", 0, make_config("jamba", model=TINY_MODEL["jamba"], **RUN), 5
    )
    checkpoint.path.parent.mkdir()
    checkpoint.path.write_bytes(b"not a checkpoint")
    with caplog.at_level(logging.INFO, logger="hybrid_retrieval"):
        meta = _train(out, checkpoint_every=5)
    assert any(
        r.getMessage().startswith(f"cannot read the training checkpoint {checkpoint.path}")
        for r in caplog.records
    )
    assert _resumed_at(caplog) == [] and "resumed_at_step" not in meta
    assert meta["weights_sha256"] == reference["jamba"]


def test_the_key_covers_what_changes_the_weights_and_not_the_interval():
    config = make_config("jamba", **RUN)
    key = checkpoint_key("jamba", 0, config)
    assert key == checkpoint_key("jamba", 0, make_config("jamba", **RUN))
    assert key != checkpoint_key("jamba", 1, config)
    assert key != checkpoint_key("recurrent_gemma", 0, config)
    assert key != checkpoint_key("jamba", 0, make_config("jamba", **{**RUN, "warmup_steps": 4}))
    assert key != checkpoint_key("jamba", 0, make_config("jamba", model={"hidden_size": 64}, **RUN))
    a = TrainingCheckpoint.beside(Path("m/toy"), "jamba", 0, config, 1)
    assert a.path == TrainingCheckpoint.beside(Path("m/toy"), "jamba", 0, config, 50).path
    assert a.path.parent == Path("m/.progress")  # beside the model directory, never inside it


@pytest.mark.parametrize("every", [0, -5, 2.5, True])
def test_a_bad_interval_is_refused_before_training(every, tmp_path):
    with pytest.raises(ConfigError, match="checkpoint_every must be an int >= 1"):
        _train(tmp_path / "toy", checkpoint_every=every)
    assert not any(tmp_path.iterdir())


DRIVER = """
import json, logging, sys, time
from hybrid_retrieval.models.toy import ToyCorpus, train_toy

out, delay, every, model, run = sys.argv[1], float(sys.argv[2]), json.loads(sys.argv[3]), *map(json.loads, sys.argv[4:])
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
real = ToyCorpus.batch

def slow_batch(*args, **kwargs):
    time.sleep(delay)
    return real(*args, **kwargs)

ToyCorpus.batch = slow_batch
print(json.dumps(train_toy("jamba", out, seed=0, checkpoint_every=every, model=model, **run)))
"""


def _driver(out: Path, delay: float, every: int | None) -> subprocess.Popen:
    args = [str(out), str(delay), json.dumps(every), json.dumps(TINY_MODEL["jamba"]), json.dumps(RUN)]
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _finish(process: subprocess.Popen) -> tuple[dict, str]:
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-3000:]
    return json.loads(stdout.strip().splitlines()[-1]), stderr


@pytest.mark.slow
def test_sigkilled_training_resumes_at_its_last_checkpoint_to_the_same_weights(tmp_path):
    reference, _ = _finish(_driver(tmp_path / "ref" / "toy", 0.0, None))

    out = tmp_path / "run" / "toy"
    process = _driver(out, 0.3, 4)
    deadline = time.monotonic() + 300
    while not list((out.parent / ".progress").glob("*.train.pt")):
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()
    assert not out.exists()  # killed mid-training: no model, the checkpoint stays
    assert len(list((out.parent / ".progress").glob("*.train.pt"))) == 1

    meta, log = _finish(_driver(out, 0.0, 4))
    steps = [int(n) for n in re.findall(r"^resumed at step (\d+)/24 from ", log, re.MULTILINE)]
    assert len(steps) == 1 and 4 <= steps[0] < RUN["steps"] and steps[0] % 4 == 0, log[-3000:]
    assert meta["resumed_at_step"] == steps[0]
    assert meta["weights_sha256"] == reference["weights_sha256"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["toy"]
