"""Map `config.model_type` to its architecture adapter. Add a family here and in its own file."""

from __future__ import annotations

from typing import Any

from hybrid_retrieval.errors import UnknownArchitectureError
from hybrid_retrieval.models.base import ArchitectureAdapter
from hybrid_retrieval.models.jamba import JambaAdapter
from hybrid_retrieval.models.recurrent_gemma import RecurrentGemmaAdapter

_ADAPTERS: dict[str, ArchitectureAdapter] = {
    adapter.model_type: adapter for adapter in (RecurrentGemmaAdapter(), JambaAdapter())
}
SUPPORTED_MODEL_TYPES: tuple[str, ...] = tuple(sorted(_ADAPTERS))


def get_adapter(model_or_config_or_model_type: Any) -> ArchitectureAdapter:
    """The adapter for a model, a config (anything with `.model_type`) or a `model_type` string."""
    obj = model_or_config_or_model_type
    if isinstance(obj, str):
        model_type = obj
    elif hasattr(obj, "config") and hasattr(obj.config, "model_type"):
        model_type = obj.config.model_type
    elif hasattr(obj, "model_type"):
        model_type = obj.model_type
    else:
        raise UnknownArchitectureError(
            f"cannot tell the model type of {type(obj).__name__!r}: pass a model, a config or a model_type "
            f"string (supported: {', '.join(SUPPORTED_MODEL_TYPES)})"
        )
    try:
        return _ADAPTERS[model_type]
    except KeyError:
        raise UnknownArchitectureError(
            f"no architecture adapter for model_type {model_type!r}; supported: "
            f"{', '.join(SUPPORTED_MODEL_TYPES)}. To add a family, write an adapter in "
            "hybrid_retrieval/models/<family>.py and register it in models/registry.py"
        ) from None
