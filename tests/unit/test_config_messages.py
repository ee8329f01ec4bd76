"""Validation messages that name the fix for the configs users write first."""

from __future__ import annotations

import pytest

from hybrid_retrieval.config import load_config
from hybrid_retrieval.errors import ConfigError


def _retrieval_only_local() -> dict:
    """A retrieval-only config for a real model on disk: what a user writes first for their own model."""
    return {
        "run": "mine",
        "models": {"my-model": {"source": "local", "path": "/models/my-model"}},
        "haystack": {"kind": "paul_graham"},
        "retrieval": {"context_lengths": [1000, 2000], "depths": [0, 50, 100]},
    }


def test_retrieval_only_local_model_is_told_how_to_turn_mmlu_off() -> None:
    # MMLU is on by default with the toys' dataset, which a real model cannot use: before, the message
    # offered only a dataset or toy-only models, never the switch a retrieval-only run needs.
    with pytest.raises(ConfigError, match=r"set experiments\.mmlu\.enabled: false") as raised:
        load_config(_retrieval_only_local())
    assert "my-model" in str(raised.value)
    data = _retrieval_only_local()
    data["experiments"] = {"mmlu": {"enabled": False}}
    assert load_config(data).experiments.mmlu.enabled is False  # the suggested fix validates
