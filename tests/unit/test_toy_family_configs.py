"""config/toy-falcon-h1.yaml is the default study on another toy family: only the models (and the run and report
settings) may differ from config/config.yaml, so its claims table reads like the default run's."""

from pathlib import Path

import yaml

from hybrid_retrieval.config import load_config_file

CONFIG = Path(__file__).resolve().parents[2] / "config"


def test_falcon_h1_toy_config_equals_the_default_but_for_models_run_and_report():
    default = yaml.safe_load((CONFIG / "config.yaml").read_text())
    falcon = yaml.safe_load((CONFIG / "toy-falcon-h1.yaml").read_text())
    different = sorted(k for k in set(default) | set(falcon) if default.get(k) != falcon.get(k))
    assert different == ["models", "report", "run"]
    assert falcon["run"] == "toy-falcon-h1"  # its own run folder: the default run's results stay untouched
    assert {m["arch"] for m in falcon["models"].values()} == {"falcon_h1"}
    config = load_config_file(CONFIG / "toy-falcon-h1.yaml")
    assert config.run == "toy-falcon-h1"
