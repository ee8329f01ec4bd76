"""Each config's outputs stay apart: a named run (config `run:`) works in runs/<run>/, so the paper
config's dry run after a finished run leaves that run's results, claims and report byte-identical;
`snakemake --directory DIR` from anywhere resolves the workflow's own files against the workflow."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from conftest import REPO, SMOKE_OUTPUTS, planned_jobs, snakemake

pytestmark = pytest.mark.workflow


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for base in ("results", "paper/generated")
        for p in sorted((root / base).rglob("*"))
        if p.is_file()
    }


def test_paper_dry_run_leaves_a_finished_run_untouched(smoke_run: Path) -> None:
    before = _digest(smoke_run / SMOKE_OUTPUTS)
    assert any(name.endswith("claims.csv") for name in before) and any("report" in n for n in before)
    proc = snakemake(smoke_run, "-n", "--configfile", "config/paper.yaml", timeout=300)
    assert planned_jobs(proc.stdout + proc.stderr)["download_model_snapshot"] == 3
    assert _digest(smoke_run / SMOKE_OUTPUTS) == before
    assert not (smoke_run / "runs/paper/results").exists()  # a dry run creates no results either


def test_directory_elsewhere_finds_the_workflows_files(tmp_path: Path) -> None:
    config = yaml.safe_load((REPO / "config/smoke.yaml").read_text())
    config.pop("run")  # --directory wins over a named run's folder anyway; the test is about DIR
    config["report"] = {
        **config.get("report", {}),
        "paper_pdf": True,
        "figure_formats": ["vl.json", "svg", "pdf"],
    }
    (tmp_path / "smoke-pdf.yaml").write_text(yaml.safe_dump(config))
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    args = ["-n", "--snakefile", str(REPO / "Snakefile"), "--directory", str(outside)]
    jobs = planned_jobs(snakemake(tmp_path, *args, "--configfile", "smoke-pdf.yaml", timeout=300).stdout)
    # paper/main.tex is the workflow's: copied next to the run's paper/generated, not looked up in DIR
    assert jobs["copy_paper_source"] == 1 and jobs["build_paper_pdf"] == 1
    default = planned_jobs(snakemake(tmp_path, *args, timeout=300).stdout)  # the embedded default config
    assert default["train_toy_model"] == 2
