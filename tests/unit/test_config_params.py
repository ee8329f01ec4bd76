"""The typed parameters at the package door (hybrid_retrieval.config.params): what Config derives for the
rules goes back into the schema's own models unchanged, with no second default anywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from hybrid_retrieval.config import (
    SPARSIFYING_SECTIONS,
    Experiments,
    Sparsification,
    as_grid,
    as_haystack,
    as_model_params,
    as_settings,
    load_config_file,
    settings_model,
)
from hybrid_retrieval.errors import ConfigError

CONFIGS = sorted(str(p) for p in (Path(__file__).resolve().parents[2] / "config").glob("*.yaml"))
CONFIGS = [c for c in CONFIGS if not c.endswith(".lock.yaml")]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: Path(p).name)
def test_every_derived_param_round_trips_through_its_model(path: str) -> None:
    """Each rule param of every shipped config validates as its model and dumps back to the same dict: the
    entry functions see exactly the values the rules pass (and Snakemake compares)."""
    cfg = load_config_file(path)
    for name in cfg.models:
        params = cfg.model_params(name)
        assert as_model_params(params).model_dump(mode="json") == params
        haystack = cfg.haystack_params(name)
        typed = as_haystack(haystack).model_dump(mode="json")
        assert {key: typed[key] for key in haystack} == haystack
    for section in Experiments.model_fields:
        settings = cfg.settings(section)
        dumped = as_settings(section, settings).model_dump(mode="json")
        assert {key: dumped[key] for key in settings} == settings
        assert set(dumped) - set(settings) <= {"enabled", "models", "grid"}  # what Config.settings leaves out
        if hasattr(getattr(cfg.experiments, section), "grid"):
            grid = cfg.grid_for(section)
            assert as_grid(grid).model_dump(mode="json") == grid


def test_head_score_is_the_sparsification_field_itself() -> None:
    for section in Experiments.model_fields:
        fields = settings_model(section).model_fields
        if section in SPARSIFYING_SECTIONS:
            assert fields["head_score"].default == Sparsification.model_fields["head_score"].default
            assert fields["head_score"].annotation == Sparsification.model_fields["head_score"].annotation
        else:
            assert settings_model(section) is Experiments.model_fields[section].annotation
            assert "head_score" not in fields


def test_a_missing_default_comes_from_the_schema() -> None:
    # no settings given: the section's defaults, the same objects the config itself starts from
    sweep = as_settings("sparsity_sweep", {})
    assert sweep.random_k == Experiments().sparsity_sweep.random_k and sweep.k == "all"
    assert sweep.head_score == Sparsification().head_score
    assert as_grid({"context_lengths": [64], "depths": [50]}).insertion == "period_token"


@pytest.mark.parametrize(
    ("convert", "value", "message"),
    [
        (as_model_params, {"name": "m", "dtype": "float32", "chat_template": False}, "prefill_boundary: Field required"),
        (as_model_params, {"name": "m", "dtype": "fp8", "chat_template": False, "prefill_boundary": "auto"}, "dtype"),
        (as_grid, {"context_lengths": [64], "depths": [50], "needle_fromat": "inline"}, "needle_fromat: Extra inputs"),
        (lambda v: as_settings("jrt", v), {"k": [0], "phase": "prefill"}, "experiments.jrt settings .*phase"),
    ],
)
def test_a_bad_param_fails_in_one_line_naming_the_key(convert, value, message) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        convert(value)
    assert "\n" not in str(err.value)


def test_an_unknown_section_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown experiment section 'jrt_grid'"):
        settings_model("jrt_grid")
