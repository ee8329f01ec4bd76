"""Issue 17's proof: a short toy training in fresh processes gives identical weights under an emulated
other CPU's dispatch with portable numerics, and different weights without them (so the check can fail)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hybrid_retrieval.infra.numerics import DISPATCH_VARIABLES, portable_supported

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from tiny_toy import TINY_MODEL, tiny_run  # noqa: E402

# Another CPU's dispatch, emulated from outside the process: generic ATen kernels (a CPU without AVX2 or
# with AVX512 picks other kernels than this one), MKL capped at SSE4.2 and on its SSE2 CNR branch, oneDNN
# capped at SSE4.1, two OpenMP threads.
EMULATED_OTHER_CPU = {
    "ATEN_CPU_CAPABILITY": "default",
    "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
    "MKL_CBWR": "COMPATIBLE",
    "ONEDNN_MAX_CPU_ISA": "SSE41",
    "OMP_NUM_THREADS": "2",
}
TINY = TINY_MODEL  # each toy architecture at its smallest size (a conv in each: oneDNN)
RUN = tiny_run(steps=6)
# What a workflow job does: numerics first, then the package's torch code (fresh process each time).
TRAIN = """
import json, sys, tempfile
from hybrid_retrieval.infra.numerics import apply_numerics
apply_numerics(sys.argv[1])
import torch
from hybrid_retrieval.models.toy import train_toy
spec = json.loads(sys.argv[2])
hashes = {}
with tempfile.TemporaryDirectory() as tmp:
    for arch, model in spec["tiny"].items():
        hashes[arch] = train_toy(arch, f"{tmp}/{arch}", seed=0, model=model, **spec["run"])["weights_sha256"]
print(json.dumps({"capability": torch.backends.cpu.get_cpu_capability(), "weights": hashes}))
"""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not portable_supported()[0], reason="portable numerics need an x86-64 CPU with AVX2"),
]


def train_in_fresh_process(mode: str, dispatch: dict[str, str]) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in DISPATCH_VARIABLES} | dispatch
    done = subprocess.run(
        [sys.executable, "-c", TRAIN, mode, json.dumps({"tiny": TINY, "run": RUN})],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_portable_numerics_train_identical_weights_under_another_cpus_dispatch():
    here = train_in_fresh_process("portable", {})
    other = train_in_fresh_process("portable", EMULATED_OTHER_CPU)
    assert here["capability"] == other["capability"] == "AVX2"
    assert here["weights"] == other["weights"]


def test_native_numerics_train_different_weights_under_another_cpus_dispatch():
    here = train_in_fresh_process("native", {})
    other = train_in_fresh_process("native", EMULATED_OTHER_CPU)
    assert other["capability"] == "DEFAULT" and here["capability"] != "DEFAULT"
    for arch in TINY:  # every architecture's weights move with the kernels: the check above can fail
        assert here["weights"][arch] != other["weights"][arch], arch
