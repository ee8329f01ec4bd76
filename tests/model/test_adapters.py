"""Architecture adapters find the right modules in the real transformers classes."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import torch
from torch import nn
from transformers import LlamaConfig, LlamaForCausalLM

from conftest import VOCAB_SIZE, _sharpen_attention, make_tiny_model, save_hub_layout
from hybrid_retrieval.errors import UnknownArchitectureError
from hybrid_retrieval.jobs.canary import check_interventions
from hybrid_retrieval.models import registry
from hybrid_retrieval.models.base import ArchitectureAdapter, FamilyAdapter
from hybrid_retrieval.models.jamba import JambaAdapter
from hybrid_retrieval.models.loading import load_model
from hybrid_retrieval.models.recurrent_gemma import RecurrentGemmaAdapter
from hybrid_retrieval.models.registry import get_adapter, register_adapter, supported_model_types


def test_recurrent_gemma_layers() -> None:
    model = make_tiny_model("recurrent_gemma", attention_window_size=5)
    adapter = get_adapter(model)
    assert isinstance(adapter, RecurrentGemmaAdapter)
    layers = adapter.attention_layers(model)
    assert [layer.layer_index for layer in layers] == [1, 2]  # block types recurrent, attention, attention
    for layer in layers:
        assert layer.module is model.model.layers[layer.layer_index].temporal_block
        assert layer.module.layer_idx == layer.layer_index
        assert (layer.num_heads, layer.num_kv_heads, layer.head_dim, layer.window) == (4, 1, 8, 5)
        assert layer.o_proj is layer.module.o_proj
        assert layer.o_proj.in_features == layer.num_heads * layer.head_dim
        assert layer.o_proj.bias is not None
    mixers = adapter.mixer_layers(model)
    assert [mixer.layer_index for mixer in mixers] == [0]
    assert mixers[0].module is model.model.layers[0].temporal_block


def test_jamba_layers() -> None:
    model = make_tiny_model("jamba")
    adapter = get_adapter(model.config)
    assert isinstance(adapter, JambaAdapter)
    layers = adapter.attention_layers(model)
    assert [layer.layer_index for layer in layers] == [1, 3]
    for layer in layers:
        assert layer.module is model.model.layers[layer.layer_index].self_attn
        assert layer.module.layer_idx == layer.layer_index
        assert (layer.num_heads, layer.num_kv_heads, layer.head_dim, layer.window) == (4, 2, 8, None)
        assert layer.o_proj.in_features == 32 and layer.o_proj.bias is None
    assert [mixer.layer_index for mixer in adapter.mixer_layers(model)] == [0, 2]
    assert all(m.module is model.model.layers[m.layer_index].mamba for m in adapter.mixer_layers(model))


def test_adapter_works_on_bare_model_too() -> None:
    model = make_tiny_model("jamba")
    layers = get_adapter("jamba").attention_layers(model.model)  # JambaModel, not ForCausalLM
    assert [layer.layer_index for layer in layers] == [1, 3]


FAMILIES = (
    "jamba", "recurrent_gemma", "bailing_hybrid", "bamba", "falcon_h1", "granitemoehybrid", "kimi_linear",
    "lfm2", "lfm2_moe", "lfm3", "nemotron_h", "olmo_hybrid", "qwen3_5", "qwen3_5_moe", "qwen3_5_moe_text",
    "qwen3_5_text", "qwen3_next", "zamba", "zamba2",
)  # fmt: skip
LLAMA = FamilyAdapter(family="llama", model_types=("llama",), attention=("LlamaAttention",), mixers=())


@pytest.fixture
def user_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A clean register_adapter table for the test (restored after it)."""
    monkeypatch.setattr(registry, "_USER", {})


def test_registry() -> None:
    assert supported_model_types() == FAMILIES  # the paper's two first, then the others sorted
    for model_type in supported_model_types():
        adapter = get_adapter(model_type)
        assert model_type in getattr(adapter, "model_types", (adapter.model_type,))
        assert isinstance(adapter, ArchitectureAdapter)
    assert get_adapter("qwen3_5") is get_adapter("qwen3_5_text")  # composite config.json and its text model
    with pytest.raises(
        UnknownArchitectureError, match=r"'llama'.*jamba, recurrent_gemma, bailing_hybrid.*zamba2"
    ):
        get_adapter("llama")
    with pytest.raises(UnknownArchitectureError, match="supported"):
        get_adapter(nn.Linear(2, 2))


def test_family_from_config_json(tmp_path: Path) -> None:
    """The type config.json states picks the adapter (Qwen3.5: the multimodal `qwen3_5`)."""
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen3_5", "text_config": {}}))
    assert registry.model_type_of(tmp_path) == "qwen3_5"
    assert get_adapter(tmp_path).model_type == "qwen3_5"
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["X"]}))
    with pytest.raises(UnknownArchitectureError, match="has no model_type"):
        get_adapter(tmp_path)


def test_register_adapter_lists_it_and_refuses_silent_override(user_registry: None) -> None:
    register_adapter(LLAMA)
    assert get_adapter("llama") is LLAMA
    assert supported_model_types()[-1] == "llama"
    with pytest.raises(UnknownArchitectureError, match=r"'mamba'.*supported: .*zamba2, llama"):
        get_adapter("mamba")
    with pytest.raises(UnknownArchitectureError, match="already has an adapter.*replace=True"):
        register_adapter(LLAMA)
    with pytest.raises(UnknownArchitectureError, match="'jamba' already has an adapter"):
        register_adapter(LLAMA, "jamba")
    register_adapter(LLAMA, "jamba", replace=True)
    assert get_adapter("jamba") is LLAMA
    registry.unregister_adapter("jamba")
    assert isinstance(get_adapter("jamba"), JambaAdapter)
    with pytest.raises(UnknownArchitectureError, match="not an architecture adapter"):
        register_adapter(object(), "x")


def test_register_by_reference_imports_on_first_use(user_registry: None) -> None:
    register_adapter("no_such_module_here:ADAPTER", "ghost")  # nothing imported yet
    assert "ghost" in supported_model_types()
    with pytest.raises(UnknownArchitectureError, match="cannot import adapter 'no_such_module_here:ADAPTER'"):
        get_adapter("ghost")
    with pytest.raises(UnknownArchitectureError, match="pass model_types"):
        register_adapter("pkg:ADAPTER")


def _user_package(root: Path) -> Path:
    """A user's adapter module, as it would ship in their own package."""
    (root / "my_adapters.py").write_text(
        "from hybrid_retrieval.models.base import FamilyAdapter\n"
        "ADAPTER = FamilyAdapter(family='llama', model_types=('llama',), attention=('LlamaAttention',), mixers=())\n"
    )
    return root


def test_entry_point_group_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, user_registry: None
) -> None:
    monkeypatch.syspath_prepend(str(_user_package(tmp_path)))
    point = metadata.EntryPoint(name="llama", value="my_adapters:ADAPTER", group=registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(
        registry.metadata,
        "entry_points",
        lambda group: [point] if group == registry.ENTRY_POINT_GROUP else [],
    )
    assert get_adapter("llama").family == "llama"
    assert supported_model_types()[-1] == "llama"
    clash = metadata.EntryPoint(name="jamba", value="my_adapters:ADAPTER", group=registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry.metadata, "entry_points", lambda group: [clash])
    with pytest.raises(UnknownArchitectureError, match="built-in adapter and an entry point"):
        get_adapter("jamba")


def test_importing_and_registering_adapters_loads_no_torch(tmp_path: Path) -> None:
    """Numerics must be set before torch loads: the registry, every FamilyAdapter file and a registration
    (also of a user's module) import no torch."""
    code = (
        "import importlib, sys\n"
        "from hybrid_retrieval.models import registry\n"
        "for model_type, ref in registry.BUILTIN_ADAPTERS.items():\n"
        "    if ref.endswith(':ADAPTER'):\n"
        "        registry.get_adapter(model_type)\n"
        "import my_adapters\n"
        "registry.register_adapter(my_adapters.ADAPTER)\n"
        "registry.get_adapter('llama')\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    env_path = str(_user_package(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": env_path},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_a_users_llama_adapter_loads_and_passes_the_canary(tmp_path: Path, user_registry: None) -> None:
    """As a user would: a plain Llama checkpoint, a 5-line adapter, no private table patched."""
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=VOCAB_SIZE, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, pad_token_id=0, eos_token_id=1, bos_token_id=2,
    )  # fmt: skip
    directory = save_hub_layout(LlamaForCausalLM(config).eval(), tmp_path / "llama")
    with pytest.raises(UnknownArchitectureError, match="'llama'"):
        load_model(directory)
    register_adapter(LLAMA)
    loaded = load_model(directory)
    assert loaded.adapter is LLAMA
    assert [
        (a.layer_index, a.num_heads, a.num_kv_heads, a.head_dim) for a in LLAMA.attention_layers(loaded.model)
    ] == [
        (0, 4, 2, 8),
        (1, 4, 2, 8),
    ]
    check_interventions(loaded, list(range(3, 15)), ("prefill", "generation"), "whole_prompt")


def test_qwen3_5_multimodal_checkpoint_loads_its_text_model(tmp_path: Path) -> None:
    """Qwen3.5 checkpoints are vision-language configs (`qwen3_5`); load_model picks the family from
    config.json, transformers loads the text model (`qwen3_5_text`) with the checkpoint's weights, and the
    interventions act on it (the canary)."""
    from test_families import TINY
    from transformers import Qwen3_5Config, Qwen3_5ForConditionalGeneration

    vision = dict(
        depth=1, hidden_size=16, intermediate_size=32, num_heads=2, out_hidden_size=32, patch_size=4
    )
    config = Qwen3_5Config(text_config=dict(TINY["qwen3_5"][2]), vision_config=vision)
    torch.manual_seed(0)
    composite = Qwen3_5ForConditionalGeneration(config).eval()
    directory = save_hub_layout(composite, tmp_path / "qwen3_5")
    assert json.loads((directory / "config.json").read_text())["model_type"] == "qwen3_5"
    loaded = load_model(directory)
    assert (loaded.model.config.model_type, loaded.adapter.model_type) == ("qwen3_5_text", "qwen3_5")
    ids = torch.tensor([list(range(3, 15))])
    with torch.no_grad():
        # the checkpoint's text weights, not fresh ones (the composite runs SDPA, hence not bit for bit)
        torch.testing.assert_close(loaded.model(input_ids=ids).logits, composite(input_ids=ids).logits)
    check_interventions(loaded, ids[0].tolist(), ("prefill", "generation"), "whole_prompt")


def test_the_canary_stops_a_model_whose_attention_the_interventions_do_not_compute(
    user_registry: None,
) -> None:
    """Gemma 2 soft-caps its attention logits, which the interventions' eager attention does not: a user's
    adapter for it is stopped by the canary's k = H check, not run with silently different attention."""
    from types import SimpleNamespace

    from transformers import Gemma2Config, Gemma2ForCausalLM

    from hybrid_retrieval.jobs.canary import CanaryError
    from hybrid_retrieval.models.loading import LoadedModel

    torch.manual_seed(0)
    config = Gemma2Config(
        vocab_size=VOCAB_SIZE, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=8, attn_logit_softcapping=1.0, sliding_window=64, pad_token_id=0,
        eos_token_id=1, bos_token_id=2, attn_implementation="eager",
    )  # fmt: skip
    model = Gemma2ForCausalLM(config).eval()
    _sharpen_attention(model, 0)
    adapter = FamilyAdapter(
        family="gemma2", model_types=("gemma2",), attention=("Gemma2Attention",), mixers=()
    )
    loaded = LoadedModel(
        model=model, tokenizer=SimpleNamespace(eos_token_id=None), adapter=adapter, name="g", revision="t"
    )
    with pytest.raises(
        CanaryError, match=r"model g \(family gemma2\), phase prefill: keeping every head changed"
    ):
        check_interventions(loaded, list(range(3, 15)), ("prefill",), "whole_prompt")
    for module in model.modules():  # without soft-capping (read at init) the same adapter passes
        if hasattr(module, "attn_logit_softcapping"):
            module.attn_logit_softcapping = None
    check_interventions(loaded, list(range(3, 15)), ("prefill", "generation"), "whole_prompt")


def test_code_digest_covers_every_builtin_adapter_file() -> None:
    """Adapters are imported on first lookup, yet a job's code digest (which reads the imports) must change
    when one does, so that its results are recomputed."""
    from hybrid_retrieval.infra.workflow_support import module_closure

    files = {path.name for path in module_closure(("hybrid_retrieval.models.loading",))}
    modules = {ref.partition(":")[0].rpartition(".")[2] + ".py" for ref in registry.BUILTIN_ADAPTERS.values()}
    assert len(modules) == 17 and modules <= files
