"""The stand-ins of the rehearsal are valid models of the real architectures: they keep the published
attention geometry and run a forward pass at every scale (a width the RG-LRU cannot split per head
failed only inside the rehearsal's jobs before)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from hybrid_retrieval.models.registry import family_of, get_adapter

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "rehearsal"))  # test tooling
from standins import MODEL_REPOS, SCALES, model_config  # noqa: E402

GEOMETRY = {  # heads, kv heads, head_dim, window (published config.json values)
    "google/recurrentgemma-2b": (10, 1, 256, 2048),
    "google/recurrentgemma-9b": (16, 1, 256, 2048),
    "ai21labs/AI21-Jamba-Mini-1.6": (32, 8, None, None),
    "LiquidAI/LFM2-350M": (16, 8, 64, None),
    "ibm-granite/granite-4.0-h-350m": (12, 4, 64, None),  # third-party copies of its config.json
}
# attention layers per scale: LFM2-350M's published first layers (conv, conv, attention, ...)
LAYERS = {
    ("ai21labs/AI21-Jamba-Mini-1.6", "rehearsal"): [4],  # attention every 8th layer at offset 4
    ("ai21labs/AI21-Jamba-Mini-1.6", "tiny"): [4],
    ("LiquidAI/LFM2-350M", "rehearsal"): [2],
    ("LiquidAI/LFM2-350M", "tiny"): [2],
    ("ibm-granite/granite-4.0-h-350m", "rehearsal"): [1],
    ("ibm-granite/granite-4.0-h-350m", "tiny"): [1],
}
FAMILY = {
    "google/recurrentgemma-2b": "recurrent_gemma",
    "google/recurrentgemma-9b": "recurrent_gemma",
    "ai21labs/AI21-Jamba-Mini-1.6": "jamba",
    "LiquidAI/LFM2-350M": "lfm2",
    "ibm-granite/granite-4.0-h-350m": "granitemoehybrid",
}


@pytest.mark.parametrize("scale", sorted(SCALES))
@pytest.mark.parametrize("repo_id", MODEL_REPOS)
def test_standin_has_the_real_attention_geometry_and_runs(repo_id: str, scale: str) -> None:
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(model_config(repo_id, scale), dtype=torch.float32).eval()
    adapter = get_adapter(model)
    assert family_of(adapter) == FAMILY[repo_id]
    layers = adapter.attention_layers(model)
    heads, kv, head_dim, window = GEOMETRY[repo_id]
    assert {(a.num_heads, a.num_kv_heads, a.window) for a in layers} == {(heads, kv, window)}
    if head_dim is not None:
        assert {a.head_dim for a in layers} == {head_dim}
    if (repo_id, scale) in LAYERS:
        assert [a.layer_index for a in layers] == LAYERS[repo_id, scale]
        assert len(adapter.mixer_layers(model)) == model.config.num_hidden_layers - len(layers)
    with torch.no_grad():
        logits = model(torch.tensor([[2, 5, 6, 7, 8, 9]])).logits
    assert logits.shape[:2] == (1, 6) and torch.isfinite(logits).all()


def test_glue_standin_loads_with_five_shots(tmp_path) -> None:
    from standins import write_glue

    from hybrid_retrieval.tasks.glue import GLUE_TASK_NAMES, load_glue_task, select_shots

    write_glue(tmp_path)
    for name in GLUE_TASK_NAMES:
        data = load_glue_task(tmp_path, name)
        assert data.docs and len(select_shots(data.docs, data.train, 5, seed=1234)) == len(data.docs)
