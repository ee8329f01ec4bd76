"""Portable numerics: the mode switch, the environment it sets in a fresh process, and its guards."""

import json
import os
import subprocess
import sys

import pytest

from hybrid_retrieval.errors import ConfigError
from hybrid_retrieval.infra import numerics

# A dispatch another CPU would pick, set from outside: generic ATen kernels, MKL and oneDNN capped lower.
EMULATED_OTHER_CPU = {
    "ATEN_CPU_CAPABILITY": "default",
    "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
    "ONEDNN_MAX_CPU_ISA": "SSE41",
    "MKL_CBWR": "COMPATIBLE",
    "OMP_NUM_THREADS": "2",
}
needs_avx2 = pytest.mark.skipif(
    not numerics.portable_supported()[0], reason="portable numerics need x86-64 AVX2"
)


def _fresh_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in numerics.DISPATCH_VARIABLES}
    return subprocess.run(
        [sys.executable, "-c", code], env={**base, **env}, capture_output=True, text=True, timeout=300
    )


def test_mode_of_defaults_to_portable_and_names_the_options():
    assert numerics.mode_of({}) == "portable" and numerics.mode_of(None) == "portable"
    assert numerics.mode_of({"numerics": "native"}) == "native"
    with pytest.raises(ConfigError, match="portable, native"):
        numerics.mode_of({"numerics": "fast"})


@needs_avx2
def test_portable_overrides_the_outside_dispatch_in_a_fresh_process():
    code = (
        "import os, json, sys\n"
        "from hybrid_retrieval.infra.numerics import apply_numerics, numerics_state\n"
        "assert 'torch' not in sys.modules\n"
        "apply_numerics('portable')\n"
        "print(json.dumps(numerics_state()))\n"
    )
    done = _fresh_python(code, EMULATED_OTHER_CPU)
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout)
    assert state["effective"] == "portable" and state["cpu_capability"] == "AVX2"
    assert state["mkldnn_enabled"] is False and state["torch_threads"] == 1
    assert {k: state["environment"][k] for k in numerics.PORTABLE_ENV} == numerics.PORTABLE_ENV


def test_native_leaves_the_outside_dispatch_alone():
    code = (
        "import json\n"
        "from hybrid_retrieval.infra.numerics import apply_numerics, numerics_state\n"
        "apply_numerics('native')\n"
        "print(json.dumps(numerics_state()))\n"
    )
    done = _fresh_python(code, {"ATEN_CPU_CAPABILITY": "default"})
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout)
    assert state["effective"] == "native" and state["cpu_capability"] == "DEFAULT"
    assert state["environment"]["MKL_CBWR"] is None


def test_portable_refuses_once_torch_is_loaded(monkeypatch):
    import torch  # noqa: F401  (this process: as a job script that imported torch first)

    monkeypatch.setattr(numerics, "_STATE", None)
    monkeypatch.setattr(numerics, "portable_supported", lambda: (True, "test"))
    with pytest.raises(RuntimeError, match="before torch is imported"):
        numerics.apply_numerics("portable")


def test_portable_on_a_cpu_without_avx2_warns_and_records_native(monkeypatch):
    monkeypatch.setattr(numerics, "_STATE", None)
    monkeypatch.setattr(numerics, "portable_supported", lambda: (False, "the CPU is arm64, not x86-64"))
    before = dict(os.environ)
    with pytest.warns(RuntimeWarning, match="arm64"):
        state = numerics.apply_numerics({"numerics": "portable"})
    assert state == {"mode": "portable", "effective": "native", "reason": "the CPU is arm64, not x86-64"}
    assert dict(os.environ) == before


def test_portable_support_needs_x86_avx2(monkeypatch):
    monkeypatch.setattr(numerics.platform, "machine", lambda: "aarch64")
    assert numerics.portable_supported() == (False, "the CPU is aarch64, not x86-64")
    monkeypatch.setattr(numerics.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(numerics, "cpu_flags", lambda: {"sse2", "avx"})
    assert numerics.portable_supported() == (False, "the CPU lacks avx2, fma")
    monkeypatch.setattr(numerics, "cpu_flags", lambda: {"avx", "avx2", "fma"})
    assert numerics.portable_supported()[0]
