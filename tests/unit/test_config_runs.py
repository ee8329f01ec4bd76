"""Each shipped config other than the default writes its own run folder (runs/<run>/): before, the README's
`make reproduce CONFIG=config/smoke.yaml` retrained both toys for 8 steps in place and overwrote the
default run's claims, report and paper."""

from __future__ import annotations

from pathlib import Path

from hybrid_retrieval.config import load_config_file

REPO = Path(__file__).resolve().parents[2]


def test_only_the_default_config_runs_in_place() -> None:
    runs = {path.name: load_config_file(path).run for path in sorted((REPO / "config").glob("*.yaml"))}
    runs = {name: run for name, run in runs.items() if not name.endswith(".lock.yaml")}
    assert runs.pop("config.yaml") is None
    assert runs["smoke.yaml"] == "smoke"
    assert all(runs.values()), runs  # every other config names its run
    assert len(set(runs.values())) == len(runs), runs  # and no two share one
