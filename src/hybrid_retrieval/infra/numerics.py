"""Portable CPU numerics: the same float kernels, hence bit-identical toy results, on any x86-64 CPU with AVX2.

PyTorch picks its CPU kernels by the machine it runs on: ATen's vectorised kernels by the CPU's widest
instruction set (AVX512, AVX2 or the generic ones), oneMKL its GEMM code path by the CPU, oneDNN its
convolution kernels (and their blocking) by the CPU, and every library its thread count by the core count.
Each choice changes the rounding of float sums, so the same seed trains different weights on different
machines. `numerics: portable` (the default) pins all of them to what every x86-64 CPU with AVX2 offers:

- `ATEN_CPU_CAPABILITY=avx2`: ATen's AVX2 kernels, also on AVX512 machines;
- `MKL_CBWR=AVX2,STRICT`: oneMKL's conditional numerical reproducibility on its AVX2 branch (strict mode:
  also independent of the thread count), `MKL_ENABLE_INSTRUCTIONS=AVX2`;
- oneDNN off (`torch.backends.mkldnn.enabled = False`; convolutions run ATen's own kernels), and
  `ONEDNN_MAX_CPU_ISA=AVX2` for anything that would still reach it;
- one thread: `OMP_NUM_THREADS=1`, `MKL_NUM_THREADS=1`, `torch.set_num_threads(1)`.

ATen, oneMKL and OpenMP read these variables once, when torch first runs a kernel, so `apply_numerics` must
run before `torch` is imported in the process: each workflow script calls it before its first import of
the package's torch code, and it refuses to run once torch is loaded. The variables are set from here,
overriding the caller's environment (which is how the tests emulate another CPU's dispatch from outside).
`numerics: native` leaves every choice to the libraries (faster: benchmarks/numerics_cost.py).

GPU kernels are out of scope: this pins CPU kernels only. This module imports no torch at import time.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import platform
import sys
import warnings
from collections.abc import Mapping
from typing import Any, Literal

from hybrid_retrieval.errors import ConfigError

log = logging.getLogger(__name__)

NumericsMode = Literal["portable", "native"]
NUMERICS_MODES: tuple[str, ...] = ("portable", "native")
DEFAULT_MODE: NumericsMode = "portable"
# The instruction-set level the portable kernels need; every x86-64 CPU since ~2013-2015 has it.
PORTABLE_CAPABILITY = "AVX2"
PORTABLE_ENV: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_CBWR": "AVX2,STRICT",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
# What a run records about the dispatch environment, portable or not (set from outside in native mode).
DISPATCH_VARIABLES: tuple[str, ...] = (*PORTABLE_ENV, "MKL_DEBUG_CPU_TYPE", "DNNL_MAX_CPU_ISA")

_STATE: dict[str, Any] | None = None  # what apply_numerics did in this process


def mode_of(config: Mapping[str, Any] | str | None) -> NumericsMode:
    """The numerics mode of a config mapping (its `numerics` key, default portable) or a mode name."""
    mode = config.get("numerics", DEFAULT_MODE) if isinstance(config, Mapping) else config
    if mode is None:
        mode = DEFAULT_MODE
    if mode not in NUMERICS_MODES:
        raise ConfigError(
            f"numerics must be one of {', '.join(NUMERICS_MODES)}, got {mode!r}: 'portable' = identical "
            "results on any x86-64 CPU with AVX2 (default), 'native' = the libraries' fastest kernels"
        )
    return mode  # type: ignore[return-value]


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (Linux; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux, else platform.processor())."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def portable_supported() -> tuple[bool, str]:
    """Whether this CPU can run the portable kernels, and if not, why."""
    machine = platform.machine().lower()
    if machine not in ("x86_64", "amd64"):
        return False, f"the CPU is {machine}, not x86-64"
    flags = cpu_flags()
    if not flags:
        return True, "CPU flags unknown (no /proc/cpuinfo); assuming AVX2"
    missing = sorted({"avx2", "fma"} - flags)
    if missing:
        return False, f"the CPU lacks {', '.join(missing)}"
    return True, "x86-64 with AVX2 and FMA"


def apply_numerics(
    config: Mapping[str, Any] | str | None = None, *, threads: int | None = None
) -> dict[str, Any]:
    """Set this process up for `config`'s numerics mode; call it before `import torch`.

    portable: the variables of PORTABLE_ENV are set (overriding the caller's), then torch is imported
    (when installed) with oneDNN off and one thread, and the ATen capability in use is checked. On a CPU
    without AVX2 (or not x86-64) the portable kernels cannot run: a warning says so and the native kernels
    are used, recorded as `effective: native`. With a torch whose BLAS is not oneMKL, ATen, oneDNN and the
    threads are pinned but GEMM is not (`effective: partial`). native: nothing is changed. `threads` is
    the job's thread count (Snakemake's `threads`), only checked: portable jobs run on one thread.
    Returns the state `numerics_state` reports.
    """
    global _STATE
    mode = mode_of(config)
    if _STATE is not None:
        if _STATE["mode"] != mode:
            raise RuntimeError(
                f"numerics already set to {_STATE['mode']!r} in this process, cannot switch to {mode!r}"
            )
        return dict(_STATE)
    state: dict[str, Any] = {"mode": mode, "effective": "native", "reason": "numerics: native"}
    if mode == "portable":
        supported, why = portable_supported()
        state["reason"] = why
        if supported:
            if "torch" in sys.modules:
                raise RuntimeError(
                    "portable numerics must be set before torch is imported (ATen, oneMKL and OpenMP read "
                    "their settings when torch loads); call hybrid_retrieval.infra.numerics.apply_numerics first"
                )
            os.environ.update(PORTABLE_ENV)
            state["effective"] = "portable"
        else:
            warnings.warn(
                f"numerics: portable needs an x86-64 CPU with AVX2, but {why}; using the native kernels, so "
                "results can differ from the reference outputs (reference/README.md)",
                RuntimeWarning,
                stacklevel=2,
            )
    if state["effective"] == "portable" and importlib.util.find_spec("torch") is not None:
        import torch  # after the environment, by design

        torch.backends.mkldnn.enabled = False
        torch.set_num_threads(1)
        capability = torch.backends.cpu.get_cpu_capability()
        if capability != PORTABLE_CAPABILITY:
            raise RuntimeError(
                f"portable numerics asked ATen for {PORTABLE_CAPABILITY} kernels but it uses {capability}; is "
                "this a torch build without AVX2 kernels? Set numerics: native to run anyway"
            )
        if not torch.backends.mkl.is_available():
            # A torch built on another BLAS (OpenBLAS, ...): MKL_CBWR pins nothing there.
            state["effective"] = "partial"
            state["reason"] += "; torch's BLAS is not oneMKL, so its GEMM kernels are not pinned"
            warnings.warn(f"numerics: portable is partial: {state['reason']}", RuntimeWarning, stacklevel=2)
        if threads is not None and threads != 1:
            warnings.warn(
                f"numerics: portable runs on one thread, but this job was given {threads}; a job that sets "
                "more torch threads itself can round differently (set its threads to 1 in the profile)",
                RuntimeWarning,
                stacklevel=2,
            )
    _STATE = state
    log.info("numerics: %s (effective %s: %s)", mode, state["effective"], state["reason"])
    return dict(state)


def numerics_state() -> dict[str, Any]:
    """What this process runs on: the mode asked for and in effect, the ATen capability in use, oneDNN,
    the thread count and the dispatch variables (imports torch)."""
    import torch

    state = (
        dict(_STATE) if _STATE is not None else {"mode": None, "effective": "native", "reason": "not applied"}
    )
    state.update(
        {
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "mkldnn_enabled": bool(torch.backends.mkldnn.enabled),
            "torch_threads": torch.get_num_threads(),
            "environment": {name: os.environ.get(name) for name in DISPATCH_VARIABLES},
        }
    )
    return state
