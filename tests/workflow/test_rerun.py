"""Reruns after a finished smoke run: a changed parameter or edited package module reruns exactly
the jobs downstream of it; a run killed mid-job reruns to completion with intact tables, identical
to an uninterrupted run (so two runs from scratch give the same results)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import polars as pl
import pytest
import yaml

from conftest import SMOKE_OUTPUTS, SNAKEMAKE, copy_repo, dry_run, snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

REPORTING = {
    "aggregate_results": 1,
    "check_claims": 1,
    "plot_figures": 1,
    "record_provenance": 1,
    "compare_reference": 1,
    "render_report": 1,
    "write_paper_sources": 1,
    "all": 1,
}


def _edited_config(repo: Path, edit) -> str:
    data = yaml.safe_load((repo / "config/smoke.yaml").read_text())
    edit(data)
    (repo / "config/edited.yaml").write_text(yaml.safe_dump(data))
    return "config/edited.yaml"


def test_changed_experiment_parameter_reruns_only_its_jobs(smoke_run: Path) -> None:
    configfile = _edited_config(
        smoke_run, lambda c: c["experiments"]["exposure"].update(generation_modes=["keep", "null"])
    )
    assert dry_run(smoke_run, "--configfile", configfile) == {"run_exposure_grid": 2, **REPORTING}


def test_changed_model_parameter_reruns_that_model_only(smoke_run: Path) -> None:
    configfile = _edited_config(smoke_run, lambda c: c["models"]["toy-jamba"].update(dtype="bfloat16"))
    jobs = dry_run(smoke_run, "--configfile", configfile)
    per_model = {
        "run_baseline_retrieval",
        "run_attention_ablation",
        "run_jrt_retrieval",
        "run_exposure_grid",
        "run_layer_controls",
        "run_sparsity_sweep",
        "score_attention_heads",
        "record_attention_heads",
        "record_attention_maps",
    }
    assert jobs == {
        **{r: 1 for r in per_model},
        "score_mmlu": 2,
        "summarize_attention_maps": 1,
        **REPORTING,
    }  # no training: dtype is a load setting


def test_edited_package_module_reruns_the_rules_that_use_it(smoke_run: Path) -> None:
    module = smoke_run / "src/hybrid_retrieval/report/figures.py"
    original = module.read_text()
    try:
        module.write_text(original + "\n# an edit\n")
        jobs = dry_run(smoke_run, "--configfile", "config/smoke.yaml")
    finally:
        module.write_text(original)
    assert jobs == {"plot_figures": 1, "render_report": 1, "write_paper_sources": 1, "all": 1}
    assert dry_run(smoke_run, "--configfile", "config/smoke.yaml") == {}


def _tables(repo: Path) -> dict[str, pl.DataFrame]:
    files = sorted((repo / SMOKE_OUTPUTS / "results").rglob("*.parquet"))
    return {str(p.relative_to(repo)): pl.read_parquet(p) for p in files}


def test_killed_run_reruns_to_identical_results(smoke_run: Path, tmp_path: Path) -> None:
    repo = copy_repo(tmp_path / "repo")
    args = [*SNAKEMAKE, "--configfile", "config/smoke.yaml", "--cores", "2"]
    proc = subprocess.Popen(
        args, cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 600
        # Kill while experiment jobs run (models trained, results being written).
        while not list((repo / SMOKE_OUTPUTS / "logs").glob("run_*/*.log")) and proc.poll() is None:
            assert time.monotonic() < deadline, "no experiment job started within 10 minutes"
            time.sleep(0.5)
        time.sleep(2)
        assert proc.poll() is None, "the run finished before it could be killed; nothing was tested"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # snakemake and its running jobs, mid-write
        proc.wait()
    snakemake(repo, "--unlock", "--configfile", "config/smoke.yaml")  # a SIGKILLed snakemake keeps its lock
    snakemake(repo, "--configfile", "config/smoke.yaml", "--cores", "2")
    assert dry_run(repo, "--configfile", "config/smoke.yaml") == {}
    ours, reference = _tables(repo), _tables(smoke_run)
    assert ours.keys() == reference.keys()
    for name, frame in reference.items():
        assert ours[name].equals(frame), f"{name} differs between two runs of the same config"
    claims = SMOKE_OUTPUTS / "results/claims.csv"
    assert (repo / claims).read_text() == (smoke_run / claims).read_text()
