"""Map `config.model_type` to its architecture adapter: the built-in families, a user's own.

Three sources, looked up in this order:
1. `register_adapter(adapter, ...)`: in this process (an adapter object, or "module:attribute" imported on
   first use);
2. the `hybrid_retrieval.adapters` entry-point group of installed packages: each entry point's name is a
   model_type and its value "module:attribute" (an adapter object, or a class made with no arguments).
   Workflow jobs are separate processes, so a user's family reaches them this way, e.g. in the user
   package's pyproject.toml:

       [project.entry-points."hybrid_retrieval.adapters"]
       llama = "my_adapters.llama:ADAPTER"

3. the built-in families (`BUILTIN_ADAPTERS`, one file each under `models/`).

Nothing is imported before it is looked up, and this module imports no torch: registering or importing an
adapter never loads torch before a job's numerics are set (`hybrid_retrieval.infra.numerics`). An adapter object
needs `model_type`, `attention_layers(model)` and `mixer_layers(model)` (`base.ArchitectureAdapter`); the
simplest is a `base.FamilyAdapter`. Errors list every family known at that moment.
"""

from __future__ import annotations

import importlib
import json
import os
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybrid_retrieval.errors import UnknownArchitectureError
from hybrid_retrieval.models.base import ArchitectureAdapter

if TYPE_CHECKING:  # never at run time (lookups import them); named here so that a job's code digest
    # (workflow_support.code_digest, which reads the imports) covers every built-in adapter file
    from hybrid_retrieval.models import (  # noqa: F401
        bailing_hybrid,
        bamba,
        falcon_h1,
        granitemoehybrid,
        jamba,
        kimi_linear,
        lfm2,
        lfm2_moe,
        lfm3,
        nemotron_h,
        olmo_hybrid,
        qwen3_5,
        qwen3_5_moe,
        qwen3_next,
        recurrent_gemma,
        zamba,
        zamba2,
    )

ENTRY_POINT_GROUP = "hybrid_retrieval.adapters"
# model_type -> "module:attribute" of its adapter (Qwen3.5: config.json's type and the loaded text model's).
BUILTIN_ADAPTERS: dict[str, str] = {
    "recurrent_gemma": "hybrid_retrieval.models.recurrent_gemma:RecurrentGemmaAdapter",
    "jamba": "hybrid_retrieval.models.jamba:JambaAdapter",
    "zamba": "hybrid_retrieval.models.zamba:ADAPTER",
    "zamba2": "hybrid_retrieval.models.zamba2:ADAPTER",
    "bamba": "hybrid_retrieval.models.bamba:ADAPTER",
    "falcon_h1": "hybrid_retrieval.models.falcon_h1:ADAPTER",
    "granitemoehybrid": "hybrid_retrieval.models.granitemoehybrid:ADAPTER",
    "nemotron_h": "hybrid_retrieval.models.nemotron_h:ADAPTER",
    "qwen3_next": "hybrid_retrieval.models.qwen3_next:ADAPTER",
    "qwen3_5": "hybrid_retrieval.models.qwen3_5:ADAPTER",
    "qwen3_5_text": "hybrid_retrieval.models.qwen3_5:ADAPTER",
    "qwen3_5_moe": "hybrid_retrieval.models.qwen3_5_moe:ADAPTER",
    "qwen3_5_moe_text": "hybrid_retrieval.models.qwen3_5_moe:ADAPTER",
    "lfm2": "hybrid_retrieval.models.lfm2:ADAPTER",
    "lfm2_moe": "hybrid_retrieval.models.lfm2_moe:ADAPTER",
    "lfm3": "hybrid_retrieval.models.lfm3:ADAPTER",
    "olmo_hybrid": "hybrid_retrieval.models.olmo_hybrid:ADAPTER",
    "kimi_linear": "hybrid_retrieval.models.kimi_linear:ADAPTER",
    "bailing_hybrid": "hybrid_retrieval.models.bailing_hybrid:ADAPTER",
}
_USER: dict[str, ArchitectureAdapter | str] = {}  # register_adapter's entries
_RESOLVED: dict[str, ArchitectureAdapter] = {}  # "module:attribute" -> its adapter, imported once


def _entry_points() -> dict[str, str]:
    return {ep.name: ep.value for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def supported_model_types() -> tuple[str, ...]:
    """Every model_type with an adapter now: the paper's families (jamba, recurrent_gemma), the other
    built-in ones, then installed entry points and registered ones (each group sorted)."""
    paper = ("jamba", "recurrent_gemma")
    others = sorted(set(BUILTIN_ADAPTERS) - set(paper))
    added = sorted(({*_entry_points(), *_USER}) - set(BUILTIN_ADAPTERS))
    return (*paper, *others, *added)


def _supported() -> str:
    return ", ".join(supported_model_types())


def _check_adapter(adapter: Any, where: str) -> ArchitectureAdapter:
    if isinstance(adapter, type):
        adapter = adapter()
    if not isinstance(adapter, ArchitectureAdapter):
        raise UnknownArchitectureError(
            f"{where} is a {type(adapter).__name__}, not an architecture adapter: it needs model_type, "
            "attention_layers(model) and mixer_layers(model) (see hybrid_retrieval.models.base.FamilyAdapter)"
        )
    return adapter


def _resolve(reference: str) -> ArchitectureAdapter:
    if reference not in _RESOLVED:
        module_name, _, attribute = reference.partition(":")
        if not module_name or not attribute:
            raise UnknownArchitectureError(
                f"adapter reference {reference!r} is not of the form 'module:attribute'"
            )
        try:
            target = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as error:
            raise UnknownArchitectureError(f"cannot import adapter {reference!r}: {error}") from error
        _RESOLVED[reference] = _check_adapter(target, f"adapter {reference!r}")
    return _RESOLVED[reference]


def register_adapter(
    adapter: ArchitectureAdapter | str,
    model_types: str | tuple[str, ...] | None = None,
    *,
    replace: bool = False,
) -> None:
    """Make `adapter` the one for `model_types` (default: the adapter's `model_types`, else its `model_type`)
    in this process. `adapter`: an adapter object, or "module:attribute" imported on first use (so a
    registration imports nothing, torch included). A built-in or already registered type needs
    `replace=True`. For workflow jobs (separate processes) use the entry-point group (module docstring)."""
    if isinstance(adapter, str):
        if model_types is None:
            raise UnknownArchitectureError(
                f"register_adapter({adapter!r}): pass model_types with a 'module:attribute' reference"
            )
        if ":" not in adapter:
            raise UnknownArchitectureError(
                f"adapter reference {adapter!r} is not of the form 'module:attribute'"
            )
    else:
        adapter = _check_adapter(adapter, "register_adapter's adapter")
        if model_types is None:
            model_types = tuple(getattr(adapter, "model_types", (adapter.model_type,)))
    types = (model_types,) if isinstance(model_types, str) else tuple(model_types)
    if not types:
        raise UnknownArchitectureError("register_adapter needs at least one model_type")
    taken = [t for t in types if t in _USER or t in BUILTIN_ADAPTERS or t in _entry_points()]
    if taken and not replace:
        raise UnknownArchitectureError(
            f"model_type {', '.join(map(repr, taken))} already has an adapter; pass replace=True to use yours instead"
        )
    for model_type in types:
        _USER[model_type] = adapter


def unregister_adapter(model_type: str) -> None:
    """Drop a `register_adapter` entry (built-in and entry-point families stay)."""
    if model_type not in _USER:
        raise UnknownArchitectureError(f"model_type {model_type!r} was not registered with register_adapter")
    del _USER[model_type]


def model_type_of(obj: Any) -> str:
    """The model_type of a model, a config (anything with `.model_type`), a model_type string, or a Path to a
    model directory / its config.json (the type config.json states: Qwen3.5's `qwen3_5`, not its text
    model's `qwen3_5_text`)."""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, os.PathLike):
        path = Path(obj)
        path = path / "config.json" if path.is_dir() else path
        try:
            model_type = json.loads(path.read_text(encoding="utf-8")).get("model_type")
        except (OSError, ValueError) as error:
            raise UnknownArchitectureError(
                f"cannot read the model_type from {str(path)!r}: {error}"
            ) from error
        if not model_type:
            raise UnknownArchitectureError(f"{str(path)!r} has no model_type")
        return str(model_type)
    if hasattr(obj, "config") and hasattr(obj.config, "model_type"):
        return str(obj.config.model_type)
    if hasattr(obj, "model_type"):
        return str(obj.model_type)
    raise UnknownArchitectureError(
        f"cannot tell the model type of {type(obj).__name__!r}: pass a model, a config or a model_type "
        f"string (supported: {_supported()})"
    )


def get_adapter(model_or_config_or_model_type: Any) -> ArchitectureAdapter:
    """The adapter for a model, a config, a `model_type` string or a model directory."""
    model_type = model_type_of(model_or_config_or_model_type)
    if model_type in _USER:
        entry = _USER[model_type]
        return _resolve(entry) if isinstance(entry, str) else entry
    installed = _entry_points()
    if model_type in installed:
        if model_type in BUILTIN_ADAPTERS:
            raise UnknownArchitectureError(
                f"model_type {model_type!r} has a built-in adapter and an entry point {installed[model_type]!r} "
                f"in group {ENTRY_POINT_GROUP!r}; use register_adapter(..., replace=True) to choose yours"
            )
        return _resolve(installed[model_type])
    if model_type in BUILTIN_ADAPTERS:
        return _resolve(BUILTIN_ADAPTERS[model_type])
    raise UnknownArchitectureError(
        f"no architecture adapter for model_type {model_type!r}; supported: {_supported()}. To add a family, "
        "write a FamilyAdapter (hybrid_retrieval.models.base) and register it with "
        f"hybrid_retrieval.models.registry.register_adapter or the {ENTRY_POINT_GROUP!r} entry-point group"
    )


def family_of(adapter: ArchitectureAdapter) -> str:
    """The family name of an adapter (its `family`, else its `model_type`), for messages and rows."""
    return str(getattr(adapter, "family", adapter.model_type))
