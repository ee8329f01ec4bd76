"""Helpers for the workflow tests: a copy of the repository in a temp dir, snakemake runs in it, and the
job list of a dry run. `smoke_run` runs the whole DAG on config/smoke.yaml once per session."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# What the workflow needs; results/resources/logs/.snakemake of the real checkout stay out.
WORKFLOW_PARTS = ("Snakefile", "workflow", "config", "src", "paper", "envs", "profiles", "reference")
# As `make reproduce` runs it: the local profile (rerun-incomplete, rerun triggers, one thread per job) is
# not named "default", so Snakemake does not load it by itself.
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--profile", str(REPO / "profiles/local")]
# config/smoke.yaml names its run: its outputs (results, resources, logs, paper) are in runs/smoke/ of the
# repository copy it ran in, never in the copy's own results/.
SMOKE_OUTPUTS = Path("runs/smoke")


def copy_repo(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "generated")
    for part in WORKFLOW_PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=ignore)
        else:
            shutil.copy2(src, dest / part)
    return dest


def snakemake(
    workdir: Path, *args: str, timeout: float = 900, check: bool = True
) -> subprocess.CompletedProcess:
    proc = subprocess.run([*SNAKEMAKE, *args], cwd=workdir, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def planned_jobs(output: str) -> Counter:
    """rule -> job count from a dry run's "Job stats" table (empty when nothing is to be done)."""
    if "Nothing to be done" in output:
        return Counter()
    table = output.split("Job stats:", 1)[1]
    jobs: Counter = Counter()
    for line in table.splitlines()[3:]:
        match = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if not match or match.group(1) == "total":
            break
        jobs[match.group(1)] = int(match.group(2))
    return jobs


def dry_run(workdir: Path, *args: str) -> Counter:
    proc = snakemake(workdir, "-n", *args, timeout=300)
    return planned_jobs(proc.stdout + proc.stderr)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository copy in which the whole DAG has run on config/smoke.yaml (outputs: SMOKE_OUTPUTS)."""
    workdir = copy_repo(tmp_path_factory.mktemp("smoke") / "repo")
    snakemake(workdir, "--configfile", "config/smoke.yaml", "--cores", "2")
    return workdir


@pytest.fixture(scope="session")
def smoke_outputs(smoke_run: Path) -> Path:
    """The finished smoke run's folder: results/, resources/, logs/, paper/ (runs/smoke/ of the copy)."""
    return smoke_run / SMOKE_OUTPUTS
