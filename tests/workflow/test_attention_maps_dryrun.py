"""The attention_maps rules in the DAG: one recording job per model, one summary, both feeding the figures."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import copy_repo, dry_run, snakemake

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_repo(tmp_path_factory.mktemp("maps_dryrun") / "repo")


@pytest.mark.parametrize(
    ("args", "models"),
    [((), 2), (("--configfile", "config/smoke.yaml"), 2), (("--configfile", "config/paper.yaml"), 3)],
    ids=["default", "smoke", "paper"],
)
def test_every_model_records_its_maps(repo: Path, args: tuple[str, ...], models: int) -> None:
    jobs = dry_run(repo, *args)
    assert jobs["record_attention_maps"] == models
    assert jobs["summarize_attention_maps"] == 1


def test_the_probes_are_the_rule_outputs_and_feed_the_figures(repo: Path) -> None:
    proc = snakemake(repo, "-n", "--forceall", "-p", "plot_figures", timeout=300)
    out = proc.stdout
    for name in ("len256_depth100.npz", "len512_depth0.npz"):
        assert f"results/toy-jamba/attention_maps/{name}" in out
        assert f"results/toy-recurrent-gemma/attention_maps/{name}" in out
    assert "results/tables/attention_maps.parquet" in out


def test_disabled_maps_plan_no_job(repo: Path) -> None:
    data = yaml.safe_load((repo / "config/smoke.yaml").read_text())
    data["experiments"]["attention_maps"]["enabled"] = False
    (repo / "config/nomaps.yaml").write_text(yaml.safe_dump(data))
    jobs = dry_run(repo, "--configfile", "config/nomaps.yaml")
    assert "record_attention_maps" not in jobs and "summarize_attention_maps" not in jobs
    assert jobs["plot_figures"] == 1
