"""Which implementation each sequence-mixer type of a loaded model runs: a fast kernel package or
transformers' PyTorch reference.

transformers 5.24 binds every SSM / short-convolution / linear-attention primitive once, when the family's
modeling module is imported (`integrations.hub_kernels.use_kernel_func_from_hub_with_fallback`): the
function of the original package when it imports (`mamba_ssm`, `causal_conv1d`, `fla` from
flash-linear-attention; the `kernels` extra installs them where wheels exist), else the PyTorch reference
(exact, much slower). `kernel_paths(model)` reads that binding for the modeling module of each mixer class
the model's adapter finds, so a run records what its SSM layers ran rather than what was installed.
"""

from __future__ import annotations

import sys
from typing import Any

REFERENCE = "pytorch reference"


def _bound(function: Any) -> str | None:
    """The package a transformers kernel wrapper calls ("pytorch reference" for the fallback); None when
    `function` is not such a wrapper."""
    code = getattr(function, "__code__", None)
    closure = getattr(function, "__closure__", None)
    if code is None or closure is None or "is_new_implementation" not in code.co_freevars:
        return None
    cells = dict(zip(code.co_freevars, closure, strict=True))
    if not cells["is_new_implementation"].cell_contents:
        return REFERENCE
    implementation = cells["implementation"].cell_contents
    return str(getattr(implementation, "__module__", None) or type(implementation).__module__).split(".")[0]


def module_kernels(module_name: str) -> dict[str, str]:
    """primitive -> "mamba_ssm" | "causal_conv1d" | "fla" | ... | "pytorch reference", for every kernel
    wrapper in an imported modeling module (empty when it has none: RecurrentGemma's RG-LRU)."""
    module = sys.modules.get(module_name)
    found = {}
    for name, value in sorted(vars(module).items()) if module is not None else ():
        bound = _bound(value)
        if bound is not None:
            found[name] = bound
    return found


def kernel_paths(model: Any) -> dict[str, dict[str, str]]:
    """mixer class -> {primitive: implementation} for each sequence-mixer type of `model` (its adapter's
    `mixer_layers`); a mixer type whose modeling module binds no kernel maps to {}."""
    from hybrid_retrieval.models.registry import get_adapter

    paths: dict[str, dict[str, str]] = {}
    for mixer in get_adapter(model).mixer_layers(model):
        cls = type(mixer.module)
        paths.setdefault(cls.__name__, module_kernels(cls.__module__))
    return paths


def summary(paths: dict[str, dict[str, str]]) -> str:
    """One line: "JambaMambaMixer: pytorch reference (causal_conv1d_fn, ...); ..."."""
    parts = []
    for mixer, primitives in sorted(paths.items()):
        if not primitives:
            parts.append(f"{mixer}: {REFERENCE} (no kernel in transformers)")
            continue
        by_path: dict[str, list[str]] = {}
        for primitive, path in primitives.items():
            by_path.setdefault(path, []).append(primitive)
        parts.append(f"{mixer}: " + ", ".join(f"{p} ({', '.join(n)})" for p, n in sorted(by_path.items())))
    return "; ".join(parts) or "no sequence mixer"
