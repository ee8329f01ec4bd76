"""config/seeds.yaml is the default config on more seeds: nothing else may drift from config/config.yaml."""

from pathlib import Path

import yaml

from hybrid_retrieval.config import load_config_file

CONFIG = Path(__file__).resolve().parents[2] / "config"


def test_seeds_config_equals_the_default_but_for_models_run_and_report():
    default = yaml.safe_load((CONFIG / "config.yaml").read_text())
    seeds = yaml.safe_load((CONFIG / "seeds.yaml").read_text())
    different = sorted(k for k in set(default) | set(seeds) if default.get(k) != seeds.get(k))
    assert different == ["models", "report", "run"]
    assert seeds["run"] == "seeds"
    # every default toy (seed 0: the default run) on two more seeds, named <toy>-s<seed> (what seed_table parses)
    for name, spec in default["models"].items():
        assert spec["seed"] == 0
        runs = {m: s for m, s in seeds["models"].items() if m.rsplit("-s", 1)[0] == name}
        assert sorted(s["seed"] for s in runs.values()) == [1, 2]
        for model, s in runs.items():
            assert model == f"{name}-s{s['seed']}" and {**s, "seed": spec["seed"]} == spec
    load_config_file(CONFIG / "seeds.yaml")  # valid
