"""A retrieval job killed with SIGKILL resumes from its side file and ends with the uninterrupted table."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

HERE = Path(__file__).resolve().parent

DRIVER = """
import json, sys, time
sys.path[:0] = [{tests!r}]
from test_evaluate import tiny_trials
from hybrid_retrieval.jobs import evaluate, experiments

model_dir, out, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])
experiments.grid_trials = lambda loaded, grid, haystack, variant, haystack_dir=None: tiny_trials(
    loaded.tokenizer, lengths=(48, 64, 80), depths=(0, 50, 100)
)
real, decoded = evaluate.decode, []

def slow_decode(*args, **kwargs):
    time.sleep(delay)
    tokens = real(*args, **kwargs)
    decoded.append(len(tokens))
    return tokens

evaluate.decode = slow_decode
experiments.run_experiment(
    model_dir, "exposure",
    model={{"name": "tiny", "dtype": "float32", "chat_template": False, "prefill_boundary": "auto"}},
    grid={{"context_lengths": [48, 64, 80], "depths": [0, 50, 100], "max_new_tokens": 4, "batch_size": 2,
          "frame_reserve": 20, "seed": 0}},
    haystack={{"kind": "synthetic", "language_seed": 0}},
    settings={{"generation_modes": ["keep", "omit"], "prefill_modes": ["keep", "follow"]}},
    out_path=out,
)
print(json.dumps({{"decoded": sum(decoded)}}))
"""


def _driver(model_dir: Path, out: Path, delay: float) -> subprocess.Popen:
    code = DRIVER.format(tests=str(HERE))
    return subprocess.Popen(
        [sys.executable, "-c", code, str(model_dir), str(out), str(delay)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen) -> dict:
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-3000:]
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_sigkilled_job_resumes_at_its_next_batch(tiny_model_dirs, tmp_path: Path) -> None:
    model_dir = tiny_model_dirs["recurrent_gemma"]
    reference = tmp_path / "ref" / "exposure.parquet"
    full = _finish(_driver(model_dir, reference, 0.0))["decoded"]

    out = tmp_path / "run" / "exposure.parquet"
    process = _driver(model_dir, out, 0.4)
    progress_dir = out.parent / ".progress"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        files = list(progress_dir.glob("*.parquet")) if progress_dir.exists() else []
        if files and pl.read_parquet(files[0]).height > 0:
            break
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        time.sleep(0.05)
    else:
        pytest.fail("the job wrote no progress within 300 s")
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not out.exists()  # the declared output appears only at the end
    saved = pl.read_parquet(files[0]).height
    assert saved > 0

    resumed = _finish(_driver(model_dir, out, 0.0))["decoded"]
    assert 0 < resumed < full  # the finished batches were not decoded again
    assert pl.read_parquet(out).equals(pl.read_parquet(reference))
    assert not files[0].exists() and not progress_dir.exists()  # removed once the output is written
