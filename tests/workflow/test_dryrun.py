"""Dry runs: every config plans every rule it should, offline, and a config typo fails before any job."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from conftest import copy_repo, dry_run, snakemake

pytestmark = pytest.mark.workflow

RETRIEVAL_RULES = (
    "run_baseline_retrieval",
    "run_attention_ablation",
    "run_jrt_retrieval",
    "run_exposure_grid",
    "run_layer_controls",
    "run_sparsity_sweep",
    "score_attention_heads",
    "record_attention_heads",
    "record_attention_maps",
)
REPORT_RULES = (
    "aggregate_results",
    "summarize_attention_maps",
    "record_provenance",
    "compare_reference",
    "check_claims",
    "plot_figures",
    "render_report",
    "write_paper_sources",
    "all",
)
LATEX = shutil.which("latexmk") or shutil.which("pdflatex")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_repo(tmp_path_factory.mktemp("dryrun") / "repo")


def test_default_config_plans_every_rule(repo: Path) -> None:
    jobs = dry_run(repo)  # no --configfile: the embedded default config/config.yaml
    expected = {"train_toy_model": 2, **{r: 2 for r in RETRIEVAL_RULES}, "score_mmlu": 2 * 5}  # k = H, 3, 2, 1, 0
    expected |= {r: 1 for r in REPORT_RULES}
    if LATEX:
        expected["build_paper_pdf"] = 1
    assert dict(jobs) == expected


def test_paper_config_plans_downloads_not_training(repo: Path) -> None:
    # Nothing made by hand: MMLU comes from the hub like the models. Offline, the dry run shows the jobs
    # with the unresolved branch names and writes no lock file.
    jobs = dry_run(repo, "--configfile", "config/paper.yaml")
    assert not (repo / "config/paper.lock.yaml").exists()
    # downloads: 3 models, the essays, cais/mmlu and nyu-mll/glue; the paper's LaTeX source copied into runs/paper
    expected = {"download_model_snapshot": 3, "download_haystack": 1, "download_dataset": 2}
    expected |= {r: 3 for r in RETRIEVAL_RULES}
    expected |= {"score_mmlu": 5} | {r: 1 for r in REPORT_RULES}  # MMLU: Jamba only, k = H, 5, 4, 3, 0
    expected |= {"score_glue": 9 * 5}  # GLUE: Jamba only, lm-eval's 9 glue tasks at MMLU's 5 ks
    if LATEX:
        expected |= {"build_paper_pdf": 1, "copy_paper_source": 1}
    assert {rule: jobs[rule] for rule in expected} == expected
    assert "train_toy_model" not in jobs


def test_paper_config_is_not_merged_with_the_default(repo: Path) -> None:
    """Snakemake merges --configfile into the `configfile:` default; ours replaces it (no toy in a paper run)."""
    proc = snakemake(repo, "-n", "--configfile", "config/paper.yaml", timeout=300)
    assert "toy-jamba" not in proc.stdout


def _write_config(repo: Path, name: str, edit) -> str:
    data = yaml.safe_load((repo / "config/smoke.yaml").read_text())
    edit(data)
    path = repo / "config" / name
    path.write_text(yaml.safe_dump(data))
    return f"config/{name}"


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda c: c["experiments"]["jrt"].update(kk=[0]), "kk"),
        (lambda c: c["retrieval"].update(depths=[0, 150]), "150"),
        (lambda c: c.update(modles={}), "modles"),
    ],
    ids=["unknown-experiment-key", "depth-out-of-range", "unknown-top-level-key"],
)
def test_config_typo_fails_before_any_job(repo: Path, edit, needle: str) -> None:
    configfile = _write_config(repo, "typo.yaml", edit)
    proc = snakemake(repo, "-n", "--configfile", configfile, check=False, timeout=300)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert needle in out
    assert "Job stats" not in out


def test_hub_model_without_revision_fails_naming_it(repo: Path) -> None:
    def edit(c: dict) -> None:
        c["models"]["toy-jamba"] = {"source": "hub", "repo_id": "ai21labs/AI21-Jamba-Mini-1.6"}
        c["experiments"]["mmlu"]["models"] = ["toy-recurrent-gemma"]

    proc = snakemake(
        repo, "-n", "--configfile", _write_config(repo, "norev.yaml", edit), check=False, timeout=300
    )
    assert proc.returncode != 0
    assert "revision" in proc.stdout + proc.stderr
