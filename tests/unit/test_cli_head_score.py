"""`hybrid-retrieval mmlu` ranks heads as the workflow's rule does: by the config's sparsification.head_score."""

from pathlib import Path

import pytest
import yaml

from hybrid_retrieval import cli
from hybrid_retrieval.jobs import experiments

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("head_score", ["entropy", "l2"])
def test_mmlu_subcommand_passes_the_configs_head_score(head_score, monkeypatch, tmp_path):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["sparsification"] = {"head_score": head_score}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    seen: dict = {}
    monkeypatch.setattr(experiments, "run_mmlu", lambda *args, **kwargs: seen.update(kwargs))
    cli.main(["mmlu", "--config", str(path), "--model", "toy-jamba", "--k", "3",
              "--model-dir", str(tmp_path), "--device", "cpu", "--out", str(tmp_path / "out.parquet")])
    assert seen["head_score"] == head_score  # before the fix: missing, so run_mmlu's default (entropy) ranked
