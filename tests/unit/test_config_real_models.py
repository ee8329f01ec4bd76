"""Bad input that Snakemake would otherwise meet only inside a job is refused when the config is read
(at DAG build), with the key and the fix: claims.mmlu_k naming an unknown model, a k above a toy's head
count, a context length that cannot hold the prompt frame, a placeholder revision."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from hybrid_retrieval.config import load_config, load_config_file, toy_num_heads
from hybrid_retrieval.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def _smoke() -> dict:
    return yaml.safe_load((REPO / "config/smoke.yaml").read_text())


def test_toy_head_count_matches_the_toy_architecture() -> None:
    torch = pytest.importorskip("torch")  # noqa: F841
    from hybrid_retrieval.models.toy.recipe import CONFIG_CLASSES, TOY_ARCHS, make_config

    # the schema's torch-free count equals the heads of the transformers config the toy is built from
    for arch in TOY_ARCHS:
        built = CONFIG_CLASSES[arch](**make_config(arch).model)
        assert toy_num_heads(arch, {}) == built.num_attention_heads
    assert toy_num_heads("jamba", {"num_attention_heads": 4}) == 4


def test_unknown_model_in_claims_mmlu_k() -> None:
    data = _smoke()
    data["claims"] = {**data.get("claims", {}), "mmlu_k": {"jamba-mini": 5}}
    with pytest.raises(ConfigError, match=r"claims.mmlu_k names unknown model\(s\) \['jamba-mini'\]"):
        load_config(data)


@pytest.mark.parametrize("where", ["jrt", "mmlu", "claims"])
def test_k_above_a_toys_heads(where: str) -> None:
    data = _smoke()
    toy = next(iter(data["models"]))
    heads = toy_num_heads(
        data["models"][toy]["arch"], data["models"][toy].get("training", {}).get("model", {})
    )
    if where == "claims":
        data["claims"] = {**data.get("claims", {}), "mmlu_k": {toy: heads + 1}}
    else:
        data["experiments"][where] = {**data["experiments"].get(where, {}), "k": [0, heads + 1]}
    with pytest.raises(ConfigError, match=rf"k \[{heads + 1}\] is above toy model .* {heads} heads"):
        load_config(data)
    ok = copy.deepcopy(data)
    if where == "claims":
        ok["claims"]["mmlu_k"] = {toy: heads}
    else:
        ok["experiments"][where]["k"] = [0, heads]
    load_config(ok)  # k = H is fine


def test_context_length_that_cannot_hold_the_frame() -> None:
    data = _smoke()
    reserve = data["retrieval"].get("frame_reserve", 200)
    data["retrieval"]["context_lengths"] = [reserve, reserve + 100]
    with pytest.raises(ConfigError, match=rf"\[{reserve}\] cannot hold the prompt frame.*frame_reserve"):
        load_config(data)


def test_paper_config_names_branches_and_the_gpu() -> None:
    cfg = load_config_file(REPO / "config/paper.yaml")
    assert cfg.device == "cuda" and cfg.run == "paper"
    assert {m.revision for m in cfg.models.values()} == {"main"}
    assert cfg.experiments.mmlu.dataset == "hub"
    assert {k: d.repo_id for k, d in cfg.hub_datasets_in_use().items()} == {
        "mmlu": "cais/mmlu",
        "glue": "nyu-mll/glue",
    }
