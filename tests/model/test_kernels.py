"""kernel_paths reads which implementation transformers bound for each mixer type's primitives: here (no
mamba_ssm / causal_conv1d / fla installed) every one is the PyTorch reference; a wrapper bound to an
importable package names that package."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM
from transformers.integrations.hub_kernels import use_kernel_func_from_hub_with_fallback

from hybrid_retrieval.models.kernels import REFERENCE, _bound, kernel_paths, summary

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "rehearsal"))  # test tooling
from standins import model_config  # noqa: E402

EXPECTED = {  # mixer class -> the primitives its modeling module binds (transformers 5.24)
    "google/recurrentgemma-2b": {"RecurrentGemmaRecurrentBlock": set()},  # RG-LRU: PyTorch only
    "ai21labs/AI21-Jamba-Mini-1.6": {
        "JambaMambaMixer": {
            "causal_conv1d_fn", "causal_conv1d_update", "mamba_inner_fn", "mamba_selective_scan",
            "mamba_selective_state_update",
        }
    },
    "LiquidAI/LFM2-350M": {"Lfm2ShortConv": {"causal_conv1d_fn", "causal_conv1d_update"}},
    "ibm-granite/granite-4.0-h-350m": {
        "GraniteMoeHybridMambaLayer": {
            "causal_conv1d_fn", "causal_conv1d_update", "mamba2_chunk_scan", "mamba2_selective_state_update",
            "mamba2_split_conv1d_scan_combined",
        }
    },
}  # fmt: skip


@pytest.mark.parametrize("repo_id", sorted(EXPECTED))
def test_every_mixer_primitive_runs_the_reference_here(repo_id: str) -> None:
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(model_config(repo_id, "tiny"), dtype=torch.float32)
    paths = kernel_paths(model)
    assert {mixer: set(p) for mixer, p in paths.items()} == EXPECTED[repo_id]
    assert {path for primitives in paths.values() for path in primitives.values()} <= {REFERENCE}
    assert REFERENCE in summary(paths)


def test_a_wrapper_bound_to_a_package_names_it() -> None:
    bound = use_kernel_func_from_hub_with_fallback("dumps", "json")(lambda obj: None)
    fallback = use_kernel_func_from_hub_with_fallback("dumps", "no_such_package_here")(lambda obj: None)
    assert (_bound(bound), _bound(fallback), _bound(len)) == ("json", REFERENCE, None)
    assert (
        summary({"M": {"scan": "mamba_ssm", "conv": REFERENCE}}) == f"M: mamba_ssm (scan), {REFERENCE} (conv)"
    )
