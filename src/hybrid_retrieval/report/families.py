"""Which architecture family each model of a run belongs to, for the report's grouping (no torch).

A model's family is the registry's (`hybrid_retrieval.models.registry`): the adapter is chosen by the
`model_type` of the model's `config.json`, and every built-in adapter's family is that `model_type`
(tests/unit/test_report_families.py checks it for each one). Here it is read without importing an adapter
(the report's environment has no torch), in this order:

1. the `model_type` in `<model dir>/config.json` (the downloaded snapshot, the trained toy, a local copy);
2. a toy's `arch` in the config;
3. "unknown".

A run holding several families gets its claims rows ordered by family within each claim, a family column,
and its figure panels labelled and ordered "family · model"; a run of one family keeps plain model names.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

UNKNOWN = "unknown"


def _config_json_type(model_dir: str | os.PathLike[str]) -> str | None:
    path = Path(model_dir) / "config.json"
    try:
        model_type = json.loads(path.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError):
        return None
    return str(model_type) if model_type else None


def default_model_dirs(config: Mapping[str, Any]) -> dict[str, str]:
    """model -> its directory as the workflow lays it out (relative to the run's folder): a local model's
    `path`, else resources/models/<name> (`Config.model_dir`)."""
    models = config.get("models")
    if not isinstance(models, Mapping):
        return {}
    return {
        name: str(spec.get("path") or f"resources/models/{name}")
        for name, spec in models.items()
        if isinstance(spec, Mapping)
    }


def model_families(
    config: Mapping[str, Any], model_dirs: Mapping[str, str | os.PathLike[str]] | None = None
) -> dict[str, str]:
    """model -> family for every model of `config` (a config as a plain dict); `model_dirs`: model -> its
    directory (default: `default_model_dirs(config)`)."""
    models = config.get("models")
    if not isinstance(models, Mapping):
        return {}
    dirs = default_model_dirs(config) if model_dirs is None else model_dirs
    families = {}
    for name, spec in models.items():
        found = _config_json_type(dirs[name]) if name in dirs else None
        if found is None and isinstance(spec, Mapping) and spec.get("source") == "toy":
            found = spec.get("arch")
        families[name] = str(found or UNKNOWN)
    return families


def several(families: Mapping[str, str] | None) -> bool:
    """Whether a run holds more than one family (the report then groups by family)."""
    return bool(families) and len(set(families.values())) > 1


def model_label(model: str, families: Mapping[str, str] | None) -> str:
    """A figure panel's label: "family · model" when the run holds several families, else the model."""
    if not several(families):
        return model
    return f"{families.get(model, UNKNOWN)} · {model}"
