"""config/hybrids.yaml (issue 24): the paper's protocol on six other hybrid families is planned offline,
with no code naming the models (their families are detected from config.json when the jobs load them)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import copy_repo, dry_run

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
)


def test_hybrids_config_plans_every_model(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path / "repo")
    config = yaml.safe_load((repo / "config/hybrids.yaml").read_text())
    models = config["models"]
    assert len(models) >= 6 and all(m["prefill_boundary"] == "whole_prompt" for m in models.values())
    jobs = dry_run(repo, "--configfile", "config/hybrids.yaml")
    assert not (repo / "config/hybrids.lock.yaml").exists()  # offline: nothing locked
    expected = {"download_model_snapshot": len(models), "download_dataset": 1, "download_haystack": 1}
    expected |= {rule: len(models) for rule in RETRIEVAL_RULES}
    expected |= {"score_mmlu": len(models) * len(config["experiments"]["mmlu"]["k"])}
    assert {rule: jobs[rule] for rule in expected} == expected
    assert "train_toy_model" not in jobs and "score_glue" not in jobs
