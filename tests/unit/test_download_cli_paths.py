"""The CLI finds what the workflow wrote: with a config that names its `run:`, every default model, haystack,
result, table, report and paper path is under runs/<run>/ (the Snakefile's workdir); without one, the
paths are as before. The download command pins through the lock (end to end against a local hub:
tests/workflow/test_hub_download.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from hybrid_retrieval import cli

SHA = "0123456789abcdef0123456789abcdef01234567"


def _write_config(path: Path, run: str | None) -> Path:
    data = {
        "models": {
            "hubm": {"source": "hub", "repo_id": "org/m", "revision": "main"},
            "localm": {"source": "local", "path": "/models/local"},
        },
        "haystack": {"kind": "paul_graham"},
        "retrieval": {"context_lengths": [300], "depths": [50]},
        "experiments": {"mmlu": {"enabled": False}},
    }
    if run:
        data["run"] = run
    path.write_text(yaml.safe_dump(data))
    return path


def _args(config: Path, *extra: str) -> tuple:
    args = cli.build_parser().parse_args(["retrieval", "--config", str(config), "--model", "hubm", *extra])
    return args, cli._config(args)


def test_paths_under_the_run_folder(tmp_path: Path) -> None:
    args, cfg = _args(_write_config(tmp_path / "c.yaml", "paper"), "--experiment", "baseline")
    assert cli._model_dir(args, cfg) == "runs/paper/resources/models/hubm"
    assert cli._haystack_dir(args, cfg) == "runs/paper/resources/haystack/paul_graham"
    assert cli._out(args, cfg, "results/hubm/retrieval/baseline.parquet") == (
        "runs/paper/results/hubm/retrieval/baseline.parquet"
    )
    assert cli._report_paths(argparse.Namespace(tables_dir=None), cfg) == (
        "runs/paper/results/tables",
        "runs/paper/results/claims.csv",
        "runs/paper/results/figures",
    )
    limited, cfg = _args(tmp_path / "c.yaml", "--experiment", "baseline", "--limit", "3")
    assert cli._out(limited, cfg, "results/hubm/retrieval/baseline.parquet") == (
        "runs/paper/results/limit-3/hubm/retrieval/baseline.parquet"
    )
    local = cli.build_parser().parse_args(
        ["retrieval", "--config", str(tmp_path / "c.yaml"), "--model", "localm", "--experiment", "baseline"]
    )
    assert cli._model_dir(local, cfg) == "/models/local"  # an absolute local path stays as it is


def test_paths_without_a_run_are_as_before(tmp_path: Path) -> None:
    args, cfg = _args(_write_config(tmp_path / "c.yaml", None), "--experiment", "baseline")
    assert cli._model_dir(args, cfg) == "resources/models/hubm"
    assert cli._haystack_dir(args, cfg) == "resources/haystack/paul_graham"
    assert cli._out(args, cfg, "results/hubm/heads/scores.parquet") == "results/hubm/heads/scores.parquet"
    explicit, cfg = _args(tmp_path / "c.yaml", "--experiment", "baseline", "--model-dir", "elsewhere")
    assert cli._model_dir(explicit, cfg) == "elsewhere"


def test_aggregate_on_a_run_config_looks_in_the_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    _write_config(tmp_path / "c.yaml", "paper")
    assert cli.main(["aggregate", "--config", "c.yaml"]) == 2
    assert "no per-trial result files under runs/paper/results/<model>/" in capsys.readouterr().err


def test_download_model_pins_through_the_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An existing lock entry is used as it is (no hub asked), into the run folder; the branch is recorded."""
    from hybrid_retrieval.infra import hub

    monkeypatch.chdir(tmp_path)
    _write_config(tmp_path / "c.yaml", "paper")
    (tmp_path / "c.lock.yaml").write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "endpoint": hub.endpoint(),
                "repos": {"models/org/m": {"revision": "main", "commit": SHA}},
            }
        )
    )
    calls = []
    monkeypatch.setattr(hub, "resolve_commit", lambda *a: pytest.fail(f"the hub was asked: {a}"))
    monkeypatch.setattr(hub, "download_model_snapshot", lambda *a, **k: calls.append((a, k)))
    assert cli.main(["download-model", "--config", "c.yaml", "--model", "hubm"]) == 0
    assert calls == [(("org/m", "main", "runs/paper/resources/models/hubm"), {"commit": SHA})]
