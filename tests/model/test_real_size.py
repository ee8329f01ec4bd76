"""benchmarks/real_size.py runs on the CPU at reduced geometry (so the GPU benchmark cannot rot)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "real_size.py"


@pytest.mark.slow
def test_real_size_benchmark_runs_reduced_on_cpu(capsys) -> None:
    spec = importlib.util.spec_from_file_location("real_size", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(
        ["--size", "reduced", "--device", "cpu", "--length", "48", "--new-tokens", "2", "--mmlu-length", "24",
         "--mmlu-batch", "2", "--repeat", "1", "--models", "recurrentgemma-2b", "jamba-mini-1.6"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert "size reduced" in out
    for model, boundary in (("recurrentgemma-2b", "last_token_as_generation"), ("jamba-mini-1.6", "whole_prompt")):
        assert f"{model}" in out and f"boundary {boundary}" in out
    assert out.count("projected paper.yaml wall time") == 2
    for stage in ("prefill_sdpa", "prefill_eager_intervened", "decode_k5", "decode_omit", "jrt_trial_k5", "mmlu_batch"):
        assert out.count(stage) == 2
    assert "mmlu" in out.split("jamba-mini-1.6")[-1]  # paper.yaml runs MMLU on Jamba only
    # each model names what its mixers ran (no kernel package here: transformers' PyTorch reference)
    assert "(mixers: JambaMambaMixer: pytorch reference (causal_conv1d_fn" in out
    assert "(mixers: RecurrentGemmaRecurrentBlock: pytorch reference (no kernel in transformers))" in out
