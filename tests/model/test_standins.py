"""The stand-ins of the rehearsal are valid models of the real architectures: they keep the published
attention geometry and run a forward pass at every scale (a width the RG-LRU cannot split per head
failed only inside the rehearsal's jobs before)."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from hybrid_retrieval.models.registry import get_adapter
from hybrid_retrieval.standins import MODEL_REPOS, SCALES, model_config

GEOMETRY = {  # heads, kv heads, head_dim, window (published config.json values)
    "google/recurrentgemma-2b": (10, 1, 256, 2048),
    "google/recurrentgemma-9b": (16, 1, 256, 2048),
    "ai21labs/AI21-Jamba-Mini-1.6": (32, 8, None, None),
}


@pytest.mark.parametrize("scale", sorted(SCALES))
@pytest.mark.parametrize("repo_id", MODEL_REPOS)
def test_standin_has_the_real_attention_geometry_and_runs(repo_id: str, scale: str) -> None:
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(model_config(repo_id, scale), dtype=torch.float32).eval()
    layers = get_adapter(model).attention_layers(model)
    heads, kv, head_dim, window = GEOMETRY[repo_id]
    assert {(a.num_heads, a.num_kv_heads, a.window) for a in layers} == {(heads, kv, window)}
    if head_dim is not None:
        assert {a.head_dim for a in layers} == {head_dim}
    if "Jamba" in repo_id:
        assert [a.layer_index for a in layers] == [4]  # attention every 8th layer at offset 4
    with torch.no_grad():
        logits = model(torch.tensor([[2, 5, 6, 7, 8, 9]])).logits
    assert logits.shape[:2] == (1, 6) and torch.isfinite(logits).all()


def test_glue_standin_loads_with_five_shots(tmp_path) -> None:
    from hybrid_retrieval.standins import write_glue
    from hybrid_retrieval.tasks.glue import GLUE_TASK_NAMES, load_glue_task, select_shots

    write_glue(tmp_path)
    for name in GLUE_TASK_NAMES:
        data = load_glue_task(tmp_path, name)
        assert data.docs and len(select_shots(data.docs, data.train, 5, seed=1234)) == len(data.docs)
