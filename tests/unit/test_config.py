"""The typed config: the shipped configs are valid, typos and bad values fail naming the key, the
exported JSON schema matches the model, and the toy-training mirror matches ToyTrainConfig."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
import yaml

from hybrid_retrieval.config import (
    SCHEMA_PATH,
    Config,
    ToyTraining,
    load_config,
    load_config_file,
    schema_yaml,
)
from hybrid_retrieval.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
CONFIGS = ["config/config.yaml", "config/paper.yaml", "config/smoke.yaml"]


def _smoke() -> dict:
    return yaml.safe_load((REPO / "config/smoke.yaml").read_text())


@pytest.mark.parametrize("name", CONFIGS)
def test_shipped_configs_are_valid(name: str) -> None:
    cfg = load_config_file(REPO / name)
    assert isinstance(cfg, Config) and cfg.models


def test_defaults_fill_every_section() -> None:
    cfg = load_config(
        {
            "models": {"m": {"source": "toy", "arch": "jamba"}},
            "retrieval": {"context_lengths": [256], "depths": [0]},  # above frame_reserve (200)
        }
    )
    assert cfg.experiments.sparsity_sweep.k == "all"
    assert cfg.claims.retention_fraction == 0.95
    assert cfg.models_for("mmlu") == ["m"]


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda c: c.update(modles={}), "modles: unknown key"),
        (lambda c: c["experiments"]["jrt"].update(kk=[0]), "experiments.jrt.kk: unknown key"),
        (
            lambda c: c["models"]["toy-jamba"]["training"].update(stpes=3),
            "models.toy-jamba.training.stpes: unknown key",
        ),
        (
            lambda c: (
                c["claims"].update(ablation_max=0.1)
                if "claims" in c
                else c.update(claims={"ablation_max": 0.1})
            ),
            "claims.ablation_max: unknown key",
        ),
    ],
)
def test_unknown_key_fails_naming_it(edit, where: str) -> None:
    data = _smoke()
    edit(data)
    with pytest.raises(ConfigError, match=where.replace(".", r"\.")):
        load_config(data)


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda c: c["retrieval"].update(depths=[0, 150]), "retrieval.depths.1"),
        (lambda c: c["retrieval"].update(batch_size=0), "retrieval.batch_size"),
        (lambda c: c["models"]["toy-jamba"].update(dtype="float8"), "models.toy-jamba.dtype"),
        (lambda c: c["models"]["toy-jamba"].update(arch="mamba"), "models.toy-jamba.arch"),
        (lambda c: c["experiments"]["jrt"].update(k=[-1]), "experiments.jrt.k"),
        (
            lambda c: c["experiments"]["exposure"].update(generation_modes=["hide"]),
            "experiments.exposure.generation_modes",
        ),
        (lambda c: c.update(device="gpu"), "device"),
    ],
)
def test_bad_value_fails_naming_the_key(edit, where: str) -> None:
    data = _smoke()
    edit(data)
    with pytest.raises(ConfigError, match=where.replace(".", r"\.")):
        load_config(data)


def test_hub_model_needs_a_pinned_revision() -> None:
    data = _smoke()
    data["experiments"]["mmlu"]["models"] = ["toy-recurrent-gemma"]
    data["models"]["real"] = {"source": "hub", "repo_id": "google/recurrentgemma-2b"}
    with pytest.raises(ConfigError, match=r"models\.real\.revision: Field required"):
        load_config(data)
    data["models"]["real"]["revision"] = "0" * 40  # the old placeholder
    with pytest.raises(ConfigError, match=r"models\.real\.revision: Value error, revision is all zeros"):
        load_config(data)
    data["models"]["real"]["revision"] = "main"  # a branch: resolved and locked by hybrid_retrieval.artifact.locking
    assert load_config(data).models["real"].revision == "main"
    data["models"]["real"]["revision"] = "a" * 40
    assert load_config(data).models["real"].revision == "a" * 40


def test_model_names_must_be_kebab_case() -> None:
    data = _smoke()
    data["models"]["toy_jamba"] = data["models"].pop("toy-jamba")
    with pytest.raises(ConfigError, match="models.toy_jamba"):
        load_config(data)


def test_cross_checks() -> None:
    data = _smoke()
    data["experiments"]["jrt"]["models"] = ["no-such-model"]
    with pytest.raises(ConfigError, match="experiments.jrt.models names unknown model"):
        load_config(data)
    data = _smoke()
    data["haystack"] = {"kind": "paul_graham"}
    with pytest.raises(ConfigError, match="cannot run on toy model"):
        load_config(data)
    data = _smoke()
    data["models"]["real"] = {"source": "local", "path": "/models/x"}
    with pytest.raises(ConfigError, match="dataset 'toy' has no questions for non-toy model"):
        load_config(data)


def test_grid_override_and_params_are_plain_dicts() -> None:
    cfg = load_config(_smoke())
    grid = cfg.grid_for("jrt")
    assert grid["context_lengths"] == [80] and grid["depths"] == [0.0, 100.0]
    assert cfg.haystack_params("toy-jamba") == {"kind": "synthetic", "language_seed": 0, "seed": 0}
    assert cfg.settings("jrt") == {"k": [0, 1], "phase": "generation", "head_score": "entropy"}
    assert "head_score" not in cfg.settings("baseline")  # only sections that rank heads get it
    assert cfg.settings("exposure")["head_score"] == "entropy"  # exposure runs inside top-k (k, phase)
    assert cfg.toy_params("toy-jamba")["overrides"]["steps"] == 8
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        cfg.model_params("nope")


def test_schema_file_matches_the_model() -> None:
    """Fails when the schema (src/hybrid_retrieval/config/) changed without `hybrid-retrieval export-schema`."""
    assert (REPO / SCHEMA_PATH).read_text() == schema_yaml(), "regenerate: hybrid-retrieval export-schema"


def test_json_schema_rejects_what_the_model_rejects() -> None:
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    schema = str(REPO / SCHEMA_PATH)
    good = _smoke()
    validate(copy.deepcopy(good), schema, set_default=False)
    bad = copy.deepcopy(good)
    bad["experiments"]["jrt"]["kk"] = [0]
    with pytest.raises(WorkflowError):
        validate(bad, schema, set_default=False)


def test_toy_training_mirrors_toy_train_config() -> None:
    from hybrid_retrieval.models.toy import ToyTrainConfig

    assert set(ToyTraining.model_fields) == {f.name for f in dataclasses.fields(ToyTrainConfig)}
