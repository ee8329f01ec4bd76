"""A finished run moved with its checkout reruns nothing (before: 4 jobs, `record_provenance` took the
checkout's absolute path as a param and `compare_reference` read reference/ by absolute path); Snakemake's
nested `--config` override passes both validations (before: the JSON schema refused the string "3")."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import SMOKE_OUTPUTS, copy_repo, dry_run, planned_jobs, snakemake

pytestmark = pytest.mark.workflow


def test_a_moved_run_reruns_nothing(smoke_run: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere" / "repo"
    shutil.copytree(smoke_run, moved, symlinks=True)
    assert dry_run(moved, "--configfile", "config/smoke.yaml") == {}
    check = json.loads((moved / SMOKE_OUTPUTS / "results/reference_check.json").read_text())
    assert not Path(check["reference_dir"]).is_absolute()  # no checkout path in the run's outputs


def test_nested_config_override_is_accepted(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path / "repo")
    args = ["--configfile", "config/smoke.yaml", "--config", 'retrieval={"trials_per_cell": 3}']
    proc = snakemake(repo, "-n", *args, "--printshellcmds", timeout=300)
    assert planned_jobs(proc.stdout + proc.stderr)["run_baseline_retrieval"] == 2
    bad = snakemake(repo, "-n", "--configfile", "config/smoke.yaml", "--config", 'retrieval={"trials_per_cell": 0}',
                    check=False, timeout=300)  # fmt: skip
    assert bad.returncode != 0 and "trials_per_cell" in bad.stdout + bad.stderr
