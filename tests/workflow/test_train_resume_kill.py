"""A train_toy_model job killed with SIGKILL under Snakemake: Snakemake deletes the job's output (the model
directory) but not the checkpoint beside it, and the rerun resumes from it ("resumed at step N" in the
job's log) to the weights of an uninterrupted run of the same config."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import SNAKEMAKE, copy_repo, snakemake

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from tiny_toy import TINY_MODEL  # noqa: E402

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

MODEL = "toy-jamba"
TINY_JAMBA = TINY_MODEL["jamba"]
STEPS = 300  # checkpoints (every 100 steps, the default) at 100, 200, 300


def _config(repo: Path, run: str) -> str:
    data = yaml.safe_load((repo / "config/smoke.yaml").read_text())
    data["run"] = run
    training = copy.deepcopy(data["models"][MODEL]["training"])  # the smoke toys share one anchor
    training.update(steps=STEPS, model=TINY_JAMBA)
    data["models"][MODEL]["training"] = training
    path = f"config/{run}.yaml"
    (repo / path).write_text(yaml.safe_dump(data))
    return path


def _weights(repo: Path, run: str) -> str:
    return json.loads((repo / "runs" / run / "resources/models" / MODEL / "toy_metadata.json").read_text())[
        "weights_sha256"
    ]


def _training_job(run: Path) -> int | None:
    """The PID of the process running this run's train_toy_model script (its path is under `run`)."""
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # not a process, or it ended
            continue
        # the python process itself (argv: python, script), not a shell whose command line names the script
        if any(
            part.startswith(str(run).encode()) and part.endswith(b".train_toy_model.py") for part in cmdline
        ):
            return int(entry.name)
    return None


def test_killed_training_job_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path / "repo")
    target = f"resources/models/{MODEL}"
    snakemake(repo, "--configfile", _config(repo, "uninterrupted"), "--cores", "1", target)

    config = _config(repo, "killed")
    run = repo / "runs/killed"
    progress = run / "resources/models/.progress"
    proc = subprocess.Popen(
        [*SNAKEMAKE, "--configfile", config, "--cores", "1", target],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 600
    while not list(progress.glob(f"{MODEL}.*.train.pt")):
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        assert time.monotonic() < deadline, "no checkpoint within 600 s"
        time.sleep(0.1)
    job = _training_job(run)
    assert job is not None, "the training job's process was not found"
    os.kill(job, signal.SIGKILL)
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode != 0, output[-3000:]
    assert not (run / target).exists()  # Snakemake removed the failed job's output ...
    (checkpoint,) = progress.glob(f"{MODEL}.*.train.pt")  # ... and kept the checkpoint beside it

    snakemake(repo, "--configfile", config, "--cores", "1", target)
    log = (run / f"logs/train_toy_model/{MODEL}.log").read_text()
    resumed = [line for line in log.splitlines() if "resumed at step " in line]
    expected = [f"resumed at step {n}/{STEPS} " for n in (100, 200)]
    assert len(resumed) == 1 and any(e in resumed[0] for e in expected), log[-3000:]
    assert _weights(repo, "killed") == _weights(repo, "uninterrupted")
    assert not checkpoint.exists() and not progress.exists()  # removed once the model is complete
