"""What a run ran on: machine, instruction set in use, BLAS and oneDNN, Python, OS, threads, numerics mode,
package versions (the headline ones and every installed distribution), git commit and the toy models' weight hashes -> results/provenance.json.

The machine part describes the process that writes the file (rule `record_provenance`, after aggregation,
with the run's numerics applied first): on one machine that is the machine of every job; on a cluster the
model jobs may have run on other nodes (their toys' weight hashes are here all the same). The report shows
this file, and `hybrid_retrieval.artifact.reference` compares the weight hashes and tables with reference/.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from hybrid_retrieval.filenames import TOY_METADATA_FILE
from hybrid_retrieval.infra.numerics import DEFAULT_MODE, cpu_flags, cpu_model, numerics_state
from hybrid_retrieval.io import write_json

PROVENANCE_FILE = "provenance.json"

# The packages whose versions decide the numbers (and the report's own toolchain).
REPORTED_PACKAGES = (
    "hybrid-retrieval",
    "torch",
    "transformers",
    "tokenizers",
    "mambapy",
    "numpy",
    "polars",
    "pydantic",
    "lm-eval",
    "snakemake",
    "altair",
    "vl-convert-python",
    "jinja2",
)
# CPU features that decide which kernels the libraries pick (the rest of /proc/cpuinfo's flags do not).
DISPATCH_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
)


def package_versions(names: Sequence[str] = REPORTED_PACKAGES) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def canonical_name(name: str) -> str:
    """A distribution's name as PEP 503 compares it (``PyYAML``, ``pyyaml`` and ``py_yaml`` -> one key)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_distributions() -> list[str]:
    """Every distribution this interpreter can import from, as sorted ``name==version`` lines (the format of
    requirements/lock.txt and ``pip freeze``). A name found twice on sys.path counts once, as the first copy
    (the one ``importlib.metadata.version`` and imports resolve to)."""
    seen: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            seen.setdefault(canonical_name(name), dist.version)
    return [f"{name}=={version}" for name, version in sorted(seen.items())]


def git_commit(repo_dir: str | os.PathLike[str] = ".") -> str:
    """HEAD's commit (with "+dirty" when the tree has changes), or "unknown" outside a git checkout."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo_dir, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo_dir,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def _config_line(config_text: str, pattern: str) -> str | None:
    match = re.search(pattern, config_text)
    return match.group(1).strip() if match else None


def torch_build() -> dict[str, Any]:
    """torch's version and the math libraries it was built with and uses now (imports torch)."""
    import torch

    shown = torch.__config__.show()
    parallel = torch.__config__.parallel_info()
    return {
        "version": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "blas": _config_line(shown, r"BLAS_INFO=([^,\s]+)"),
        "mkl": _config_line(shown, r"Math Kernel Library Version ([^\n]+)")
        if torch.backends.mkl.is_available()
        else None,
        "onednn": _config_line(shown, r"MKL-DNN (v[^\n]+)") if torch.backends.mkldnn.is_available() else None,
        "onednn_enabled": bool(torch.backends.mkldnn.enabled),
        "openmp": _config_line(shown, r"OpenMP ([^\n]+)"),
        "parallel_backend": _config_line(parallel, r"ATen parallel backend: ([^\n]+)"),
        "threads": torch.get_num_threads(),
        "cuda": torch.version.cuda,
    }


def machine() -> dict[str, Any]:
    flags = cpu_flags()
    return {
        "cpu_model": cpu_model(),
        "architecture": platform.machine(),
        "cpu_dispatch_flags": [f for f in DISPATCH_FLAGS if f in flags],
        "logical_cpus": os.cpu_count(),
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }


def toy_models(model_dirs: Mapping[str, str | os.PathLike[str]]) -> dict[str, dict[str, Any]]:
    """model -> the weight hash and training record of its toy_metadata.json (toys only)."""
    models = {}
    for name, directory in model_dirs.items():
        path = Path(directory) / TOY_METADATA_FILE
        if not path.is_file():
            continue
        meta = json.loads(path.read_text(encoding="utf-8"))
        models[name] = {
            "weights_sha256": meta.get("weights_sha256"),
            "train_cpu_seconds": meta.get("train_cpu_seconds"),
            "torch_version": meta.get("torch_version"),
        }
    return models


def collect_provenance(
    config: Mapping[str, Any],
    *,
    model_dirs: Mapping[str, str | os.PathLike[str]] | None = None,
    repo_dir: str | os.PathLike[str] = ".",
) -> dict[str, Any]:
    """Everything PROVENANCE_FILE holds. Call `numerics.apply_numerics(config)` first in the process, so
    `numerics` is what the run's jobs used."""
    state = numerics_state()
    return {
        "git_commit": git_commit(repo_dir),
        "machine": machine(),
        "torch": torch_build(),
        "numerics": {
            "mode": config.get("numerics", DEFAULT_MODE),
            "effective": state["effective"],
            "reason": state["reason"],
            "environment": state["environment"],
        },
        "packages": package_versions(),
        "distributions": installed_distributions(),
        "models": toy_models(model_dirs or {}),
        "config": dict(config),
    }


def write_provenance(
    config: Mapping[str, Any],
    out_path: str | os.PathLike[str],
    *,
    model_dirs: Mapping[str, str | os.PathLike[str]] | None = None,
    repo_dir: str | os.PathLike[str] = ".",
) -> Path:
    return write_json(collect_provenance(config, model_dirs=model_dirs, repo_dir=repo_dir), out_path)


def read_provenance(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    path = Path(path)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
