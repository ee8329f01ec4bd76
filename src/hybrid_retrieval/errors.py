"""Exception types. Every message says what was wrong and what to do about it."""


class HybridRetrievalError(Exception):
    """Base class: anything the user can fix (config, model path, data)."""


class ConfigError(HybridRetrievalError, ValueError):
    """A config value is unknown, out of range or inconsistent."""


class UnknownArchitectureError(ConfigError):
    """No architecture adapter is registered for a model type."""


class ModelLoadError(HybridRetrievalError):
    """A model directory or hub snapshot is missing, incomplete or not allowed (no safetensors...)."""


class DataError(HybridRetrievalError):
    """Input data (essays, MMLU CSV, trial files) is missing or malformed."""


class InterventionError(ConfigError):
    """An intervention cannot be applied to this model (k too large, unknown mode, needle not found...)."""
