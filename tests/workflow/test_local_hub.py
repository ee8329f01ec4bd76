"""The hub path end to end against a local hub (olah serving stand-in git repos under the real names):
a branch resolved once and locked beside the config, downloads into a private HF cache through the
allow patterns (no decoy fetched, the chat template fetched), results naming the served commits, the
CLI finding the run's download and results, a second run doing nothing, a new commit ignored until the
lock is refreshed. Checked downloads, hub errors and sha locking: tests/workflow/test_hub_download.py."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from conftest import REPO, copy_repo, snakemake

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "rehearsal"))  # test tooling
from standins import DECOYS, add_commit, build_mirrors  # noqa: E402

pytestmark = pytest.mark.workflow

JAMBA = "ai21labs/AI21-Jamba-Mini-1.6"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def local_hub(tmp_path_factory: pytest.TempPathFactory):
    """(mirrors dir, endpoint, head shas): olah started here and stopped by its PID at the end."""
    root = tmp_path_factory.mktemp("hub")
    heads = build_mirrors(root / "mirrors", scale="tiny", models=(JAMBA,))
    port = _free_port()
    script = REPO / "scripts/olah-hub.sh"
    subprocess.run([str(script), "start", str(root / "mirrors"), str(root / "olah"), str(port)], check=True)
    try:
        yield root / "mirrors", f"http://127.0.0.1:{port}", heads
    finally:
        subprocess.run([str(script), "stop", str(root / "olah")], check=True)


def _config() -> dict:
    return {
        "run": "hubtest",
        "models": {
            "jamba-mini-1.6": {
                "source": "hub",
                "repo_id": JAMBA,
                "revision": "main",
                "dtype": "float32",
                "chat_template": True,
            }
        },
        "device": "cpu",
        "datasets": {"mmlu": {"repo_id": "cais/mmlu", "revision": "main"}},
        "haystack": {"kind": "synthetic"},
        "retrieval": {"context_lengths": [300], "depths": [50], "max_new_tokens": 2},
        "experiments": {
            **{
                s: {"enabled": False}
                for s in (
                    "baseline",
                    "attention_ablation",
                    "jrt",
                    "exposure",
                    "sparsity_sweep",
                    "controls",
                    "head_scores",
                    "recordings",
                    "attention_maps",
                )
            },
            "mmlu": {"dataset": "hub", "k": ["H"], "num_shots": 1, "batch_size": 2},
        },
        "report": {"paper_pdf": False},
    }


def test_branch_locked_downloaded_through_the_cache_and_refreshed(
    local_hub, tmp_path: Path, monkeypatch
) -> None:
    mirrors, endpoint, heads = local_hub
    repo = copy_repo(tmp_path / "repo")
    (repo / "config/hub.yaml").write_text(yaml.safe_dump(_config()))
    hf_home = tmp_path / "hf-home"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    run = repo / "runs/hubtest"
    result = "results/jamba-mini-1.6/mmlu/top-H-heads.parquet"
    snakemake(repo, result, "--cores", "2", "--configfile", "config/hub.yaml")

    lock = yaml.safe_load((repo / "config/hub.lock.yaml").read_text())["repos"]
    assert lock == {
        f"models/{JAMBA}": {"revision": "main", "commit": heads[f"models/{JAMBA}"]},
        "datasets/cais/mmlu": {"revision": "main", "commit": heads["datasets/cais/mmlu"]},
    }
    rows = pl.read_parquet(run / result)
    assert set(rows["revision"]) == {heads[f"models/{JAMBA}"]}
    assert set(rows["dataset"]) == {
        f"cais/mmlu@{heads['datasets/cais/mmlu']}"
    }  # rows name the dataset commit
    record = json.loads((run / "resources/datasets/cais/mmlu/snapshot.json").read_text())
    assert record["commit"] == heads["datasets/cais/mmlu"] and record["path"].startswith(str(hf_home))
    model_dir = run / "resources/models/jamba-mini-1.6"
    assert (model_dir / "revision.txt").read_text().strip() == heads[f"models/{JAMBA}"]
    assert os.path.realpath(model_dir / "model.safetensors").startswith(str(hf_home))  # a link into the cache
    fetched = {p.name for p in hf_home.rglob("*") if p.is_file() or p.is_symlink()}
    assert "chat_template.jinja" in fetched
    assert not fetched & {Path(d).name for d in DECOYS}, "a decoy was downloaded"
    assert not (repo / "results").exists()  # the named run keeps its outputs in runs/hubtest/
    assert {p.name for p in model_dir.iterdir()} >= {"config.json", "model.safetensors", "revision.txt"}
    assert not [p for p in model_dir.iterdir() if p.is_dir()]  # top-level files only

    # the CLI on the same config finds the workflow's download and results (the run folder)
    from hybrid_retrieval import cli

    monkeypatch.chdir(repo)
    args = cli.build_parser().parse_args(
        ["mmlu", "--config", "config/hub.yaml", "--model", "jamba-mini-1.6", "--k", "H"]
    )
    cfg = cli._config(args)
    assert (repo / cli._model_dir(args, cfg)).resolve() == model_dir.resolve()
    assert (repo / cli._out(args, cfg, result)).resolve() == (run / result).resolve()

    # a second run downloads nothing and runs nothing; the lock's endpoint is this run's: no warning
    again = snakemake(repo, result, "--cores", "2", "--configfile", "config/hub.yaml")
    assert "Nothing to be done" in again.stdout + again.stderr
    assert "was made against the hub" not in again.stdout + again.stderr

    # a new commit on main is not picked up until the lock is refreshed
    new = add_commit(mirrors, f"models/{JAMBA}")
    assert new != heads[f"models/{JAMBA}"]
    quiet = snakemake(repo, result, "-n", "--configfile", "config/hub.yaml")
    assert "Nothing to be done" in quiet.stdout + quiet.stderr
    subprocess.run(
        [str(REPO / ".venv/bin/python"), "-m", "hybrid_retrieval.artifact.locking", "--refresh", "config/hub.yaml"],
        cwd=repo,
        check=True,
        env={**os.environ, "PYTHONPATH": str(repo / "src")},
    )
    assert (
        yaml.safe_load((repo / "config/hub.lock.yaml").read_text())["repos"][f"models/{JAMBA}"]["commit"]
        == new
    )
    planned = snakemake(repo, result, "-n", "--configfile", "config/hub.yaml")
    assert "download_model_snapshot" in planned.stdout
