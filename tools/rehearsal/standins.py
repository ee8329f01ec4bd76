"""Stand-ins of the paper's hub repositories, under their real names, for a local hub (olah).

Test tooling (tools/rehearsal/, not part of the package) for the offline rehearsal of the real-model path
(`make rehearsal`, tests/workflow/test_rehearsal.py) and the hub tests: `build_mirrors(root)` writes git repositories (branch `main`, two commits each) that
`scripts/olah-hub.sh` serves as hub repositories:

- models `google/recurrentgemma-2b`, `google/recurrentgemma-9b`, `ai21labs/AI21-Jamba-Mini-1.6`: the real
  architectures with the real attention geometry (RecurrentGemma: 10 / 16 heads, 1 KV head, head_dim 256,
  window 2048; Jamba: 32 heads, 8 KV heads, attention every 8th layer at offset 4) and reduced depth,
  width, vocabulary and experts; random weights (seeded); a real tokenizer file (byte-level BPE trained
  here) and, for the chat models, a chat template in `chat_template.jinja`;
- two of the other hybrid families of config/hybrids.yaml (issue 24), the same way: `LiquidAI/LFM2-350M`
  (Lfm2: 16 heads, 8 KV heads, head_dim 64 at hidden 1024; the published first layers conv, conv,
  attention) and `ibm-granite/granite-4.0-h-350m` (GraniteMoeHybrid: 12 heads, 4 KV heads, head_dim 64
  at hidden 768, NoPE, dense MLP; a Mamba2 layer, then an attention layer: the published order is not
  known here). Their real tokenizers are not reachable offline: they get the
  stand-in tokenizer above, with the chat template (both are chat checkpoints in config/hybrids.yaml);
- decoys that a download must never fetch: `pytorch_model.bin`, `modeling_standin.py`, and a large
  unrelated file (`DECOYS`);
- datasets `cais/mmlu` (per-subject configs with dev / validation / test parquet, plus `all`) and
  `nyu-mll/glue` (the tasks lm-eval 0.4's glue group reads), in the hub's parquet layout.

Commits use fixed author dates, so the same code builds the same commit shas.

    .venv/bin/python tools/rehearsal/standins.py build MIRRORS [--scale rehearsal|tiny]
    .venv/bin/python tools/rehearsal/standins.py commit MIRRORS models/google/recurrentgemma-2b   (one more commit)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
from pathlib import Path
from typing import Any

PAPER_REPOS = ("google/recurrentgemma-2b", "google/recurrentgemma-9b", "ai21labs/AI21-Jamba-Mini-1.6")
HYBRID_REPOS = ("LiquidAI/LFM2-350M", "ibm-granite/granite-4.0-h-350m")  # config/hybrids.yaml's, issue 24
MODEL_REPOS = (*PAPER_REPOS, *HYBRID_REPOS)
CHAT_REPOS = ("ai21labs/AI21-Jamba-Mini-1.6", *HYBRID_REPOS)  # chat_template: true in their configs
MMLU_REPO = "cais/mmlu"
GLUE_REPO = "nyu-mll/glue"
DECOYS = ("pytorch_model.bin", "modeling_standin.py", "unrelated/large_blob.dat")
DECOY_BYTES = 4 * 1024 * 1024
GIT_DATE = "2026-01-01T00:00:00+00:00"

# The published attention geometry (config.json of each repository) and the reduced rest. RecurrentGemma's
# RG-LRU splits lru_width into one block per head: lru_width must be a multiple of the head count.
_RG_COMMON = {
    "num_key_value_heads": 1,
    "attention_window_size": 2048,
    "block_types": ["recurrent", "recurrent", "attention"],
    "partial_rotary_factor": 0.5,
    "logits_soft_cap": 30.0,
    "tie_word_embeddings": True,
}
# LFM2-350M: config.json as quoted in tests/model/test_real_model_structure.py (checked there against the
# model card's parameter count): hidden 1024, 16 / 8 heads (head_dim = hidden / heads = 64), attention at
# layers 2, 5, 8, 10, 12, 14 of 16, tied embeddings. The stand-in keeps the width and the first layers.
_LFM2_COMMON = {
    "hidden_size": 1024,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "block_auto_adjust_ff_dim": False,
    "tie_word_embeddings": True,
}
# granite-4.0-h-350m: 12 / 4 heads and hidden 768 (head_dim 64) as quoted by third-party copies of its
# config.json (the audit's [3p]; not checked against the hub from here), NoPE attention, no experts.
_GRANITE_COMMON = {
    "hidden_size": 768,
    "num_attention_heads": 12,
    "num_key_value_heads": 4,
    "position_embedding_type": "nope",
    "num_local_experts": 0,
    "mamba_expand": 1,
    "mamba_n_groups": 1,
    "mamba_d_conv": 4,
    "mamba_chunk_size": 64,
    "tie_word_embeddings": True,
}
SCALES: dict[str, dict[str, dict[str, Any]]] = {
    "rehearsal": {
        # head_dim = hidden_size / heads in RecurrentGemma, so the width stays 10 x 256 and 16 x 256
        "google/recurrentgemma-2b": {
            "num_attention_heads": 10,
            "hidden_size": 2560,
            "num_hidden_layers": 3,
            "lru_width": 160,
            "intermediate_size": 256,
        },
        "google/recurrentgemma-9b": {
            "num_attention_heads": 16,
            "hidden_size": 4096,
            "num_hidden_layers": 3,
            "lru_width": 128,
            "intermediate_size": 256,
        },
        "ai21labs/AI21-Jamba-Mini-1.6": {
            "hidden_size": 256,
            "num_hidden_layers": 8,
            "intermediate_size": 256,
            "num_experts": 2,
            "num_experts_per_tok": 1,
        },
        # one attention layer each: the rehearsal runs inside `make test` (each layer adds per-head scoring)
        "LiquidAI/LFM2-350M": {
            "num_hidden_layers": 3,
            "layer_types": ["conv", "conv", "full_attention"],
            "intermediate_size": 256,
        },
        "ibm-granite/granite-4.0-h-350m": {
            "num_hidden_layers": 2,
            "layer_types": ["mamba", "attention"],
            "shared_intermediate_size": 256,
            "mamba_n_heads": 24,
            "mamba_d_state": 16,
        },
    },
    "tiny": {
        "google/recurrentgemma-2b": {
            "num_attention_heads": 10,
            "hidden_size": 2560,
            "num_hidden_layers": 3,
            "lru_width": 40,
            "intermediate_size": 64,
        },
        "google/recurrentgemma-9b": {
            "num_attention_heads": 16,
            "hidden_size": 4096,
            "num_hidden_layers": 3,
            "lru_width": 32,
            "intermediate_size": 64,
        },
        "ai21labs/AI21-Jamba-Mini-1.6": {
            "hidden_size": 64,
            "num_hidden_layers": 5,
            "intermediate_size": 64,
            "num_experts": 2,
            "num_experts_per_tok": 1,
        },
        "LiquidAI/LFM2-350M": {
            "num_hidden_layers": 3,
            "layer_types": ["conv", "conv", "full_attention"],
            "intermediate_size": 64,
        },
        "ibm-granite/granite-4.0-h-350m": {
            "num_hidden_layers": 2,
            "layer_types": ["mamba", "attention"],
            "shared_intermediate_size": 64,
            "mamba_n_heads": 12,
            "mamba_d_state": 8,
        },
    },
}
JAMBA_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}"
    "<|end|>\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


# ------------------------------------------------------------------------------------------------- git


def _git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "stand-in",
        "GIT_AUTHOR_EMAIL": "stand-in@localhost",
        "GIT_COMMITTER_NAME": "stand-in",
        "GIT_COMMITTER_EMAIL": "stand-in@localhost",
        "GIT_AUTHOR_DATE": GIT_DATE,
        "GIT_COMMITTER_DATE": GIT_DATE,
    }
    out = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env)
    return out.stdout.strip()


def commit_all(repo: Path, message: str) -> str:
    """Commit everything in `repo` on main (created on first use); returns the commit sha."""
    if not (repo / ".git").exists():
        _git(repo, "init", "-q", "-b", "main")
        _git(repo, "config", "commit.gpgsign", "false")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


def head(repo: Path) -> str:
    return _git(repo, "rev-parse", "main")


def add_commit(mirrors: str | os.PathLike[str], repo: str) -> str:
    """One more commit on `main` of `<mirrors>/<models|datasets>/<org>/<name>` (a README line)."""
    path = Path(mirrors) / repo
    readme = path / "README.md"
    count = len(_git(path, "rev-list", "main").split())
    readme.write_text(readme.read_text(encoding="utf-8") + f"\nRevision {count + 1} of this stand-in.\n")
    return commit_all(path, f"stand-in revision {count + 1}")


# ------------------------------------------------------------------------------------------- tokenizer


def _corpus() -> list[str]:
    from hybrid_retrieval.tasks.haystack import FixedNeedle
    from hybrid_retrieval.tasks.synthetic import SyntheticLanguage

    rng = random.Random(0)
    language = SyntheticLanguage(0)
    needle = FixedNeedle()
    text = [language.haystack(rng, 3000), needle.sentence, needle.question]
    text += ["CONTEXT: QUESTION: ANSWER: Here is the most relevant sentence in the context: "]
    text += ["The following are multiple choice questions (with answers) about A. B. C. D. Answer:"]
    return text


def write_tokenizer(dest: Path, *, chat: bool) -> None:
    """A byte-level BPE (any text encodes) with <pad>, <eos>, <bos>; <bos> prepended like Gemma's."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<pad>", "<eos>", "<bos>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=768,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", tok.token_to_id("<bos>"))]
    )
    tok.save(str(dest / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<bos>",
        "eos_token": "<eos>",
        "pad_token": "<pad>",
        "model_max_length": 262144,
        "add_bos_token": True,
    }
    (dest / "tokenizer_config.json").write_text(json.dumps(config, indent=1) + "\n")
    (dest / "special_tokens_map.json").write_text(
        json.dumps({"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>"}, indent=1) + "\n"
    )
    if chat:
        (dest / "chat_template.jinja").write_text(JAMBA_CHAT_TEMPLATE)


# ---------------------------------------------------------------------------------------------- models


def model_config(repo_id: str, scale: str = "rehearsal", vocab_size: int = 768):
    """The transformers config of a stand-in: published attention geometry, reduced rest."""
    from transformers import GraniteMoeHybridConfig, JambaConfig, Lfm2Config, RecurrentGemmaConfig

    sizes = SCALES[scale][repo_id]
    ids = {"vocab_size": vocab_size, "pad_token_id": 0, "eos_token_id": 1, "bos_token_id": 2}
    if "recurrentgemma" in repo_id:
        return RecurrentGemmaConfig(**_RG_COMMON, **sizes, **ids)
    if repo_id == "LiquidAI/LFM2-350M":
        return Lfm2Config(**_LFM2_COMMON, **sizes, **ids)
    if repo_id == "ibm-granite/granite-4.0-h-350m":
        return GraniteMoeHybridConfig(**_GRANITE_COMMON, **sizes, **ids)
    return JambaConfig(
        **sizes,
        vocab_size=vocab_size,
        num_attention_heads=32,
        num_key_value_heads=8,
        attn_layer_period=8,
        attn_layer_offset=4,
        expert_layer_period=2,
        expert_layer_offset=1,
        mamba_d_state=16,
        mamba_d_conv=4,
        mamba_expand=2,
        use_mamba_kernels=False,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
    )


def write_model(dest: Path, repo_id: str, scale: str, seed: int) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    config = model_config(repo_id, scale)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.to(torch.bfloat16).save_pretrained(dest, safe_serialization=True)  # the dtype the paper runs
    write_tokenizer(dest, chat=repo_id in CHAT_REPOS)
    (dest / "generation_config.json").write_text(
        json.dumps({"bos_token_id": 2, "eos_token_id": 1, "pad_token_id": 0}, indent=1) + "\n"
    )
    # decoys: never to be fetched (pickled weights, code, an unrelated large file)
    rng = random.Random(seed)
    (dest / "pytorch_model.bin").write_bytes(rng.randbytes(4096))
    (dest / "modeling_standin.py").write_text(
        "raise RuntimeError('stand-in code must never be downloaded')\n"
    )
    (dest / "unrelated").mkdir(exist_ok=True)
    (dest / "unrelated" / "large_blob.dat").write_bytes(rng.randbytes(DECOY_BYTES))


# -------------------------------------------------------------------------------------------- datasets


def _write_parquet(path: Path, rows: list[dict[str, Any]]) -> None:
    import polars as pl

    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(rows).write_parquet(path)


def _front_matter(configs: dict[str, list[str]]) -> str:
    lines = ["---", "configs:"]
    for name, splits in configs.items():
        lines += [f"- config_name: {name}", "  data_files:"]
        lines += [f"  - split: {split}\n    path: {name}/{split}-*" for split in splits]
    return "\n".join(lines) + "\n---\n"


def write_mmlu(
    dest: Path, subjects: tuple[str, ...] = ("abstract_algebra", "anatomy"), n_test: int = 3
) -> None:
    """cais/mmlu's layout: <subject>/{dev,validation,test}-00000-of-00001.parquet and all/ (every subject)."""
    rng = random.Random(1)
    splits = {"dev": 5, "validation": 2, "test": n_test}
    every: dict[str, list[dict[str, Any]]] = {s: [] for s in splits}
    for subject in subjects:
        for split, n in splits.items():
            rows = []
            for i in range(n):
                a, b = rng.randint(2, 9), rng.randint(2, 9)
                answer = rng.randint(0, 3)
                choices = [str(a * b + d) for d in (-2, -1, 1, 2)]
                choices[answer] = str(a * b)
                rows.append(
                    {
                        "question": f"What is {a} times {b}? ({subject} {split} {i})",
                        "subject": subject,
                        "choices": choices,
                        "answer": answer,
                    }
                )
            _write_parquet(dest / subject / f"{split}-00000-of-00001.parquet", rows)
            every[split] += rows
    for split, rows in every.items():
        _write_parquet(dest / "all" / f"{split}-00000-of-00001.parquet", rows)
    configs = {name: list(splits) for name in (*subjects, "all")}
    (dest / "README.md").write_text(_front_matter(configs) + "\n# cais/mmlu stand-in\n")


GLUE_TASKS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # config -> (text columns, splits); label 0/1 (mnli 0/1/2)
    "cola": (("sentence",), ("train", "validation", "test")),
    "sst2": (("sentence",), ("train", "validation", "test")),
    "mrpc": (("sentence1", "sentence2"), ("train", "validation", "test")),
    "qqp": (("question1", "question2"), ("train", "validation", "test")),
    "qnli": (("question", "sentence"), ("train", "validation", "test")),
    "rte": (("sentence1", "sentence2"), ("train", "validation", "test")),
    "wnli": (("sentence1", "sentence2"), ("train", "validation", "test")),
    "mnli": (
        ("premise", "hypothesis"),
        ("train", "validation_matched", "validation_mismatched", "test_matched", "test_mismatched"),
    ),
}


def write_glue(dest: Path, n: int = 4, n_train: int = 8) -> None:
    """nyu-mll/glue's layout: <task>/<split>-00000-of-00001.parquet with the task's columns, label, idx."""
    rng = random.Random(2)
    for task, (columns, splits) in GLUE_TASKS.items():
        classes = 3 if task == "mnli" else 2
        for split in splits:
            rows = [
                {
                    **{c: f"{task} {split} {c} {i} word{rng.randint(0, 99)}" for c in columns},
                    "label": -1 if split.startswith("test") else rng.randrange(classes),
                    "idx": i,
                }
                for i in range(n_train if split == "train" else n)  # train: the few-shot pool (5 shots + 1)
            ]
            _write_parquet(dest / task / f"{split}-00000-of-00001.parquet", rows)
    (dest / "README.md").write_text(
        _front_matter({t: list(s) for t, (_, s) in GLUE_TASKS.items()}) + "\n# nyu-mll/glue stand-in\n"
    )


# ------------------------------------------------------------------------------------------------ build


def build_mirrors(
    root: str | os.PathLike[str], scale: str = "rehearsal", models: tuple[str, ...] = MODEL_REPOS
) -> dict[str, str]:
    """Write the stand-ins under `root` (two commits on main each); returns {"models/<repo>": head sha}."""
    root = Path(root)
    heads: dict[str, str] = {}
    for i, repo_id in enumerate(MODEL_REPOS):
        if repo_id not in models:
            continue
        path = root / "models" / repo_id
        path.mkdir(parents=True, exist_ok=True)
        (path / "README.md").write_text(f"# {repo_id} stand-in (random weights, real attention geometry)\n")
        commit_all(path, "stand-in: README")
        write_model(path, repo_id, scale, seed=i)
        heads[f"models/{repo_id}"] = commit_all(path, "stand-in: weights, tokenizer, decoys")
    for repo_id, writer in ((MMLU_REPO, write_mmlu), (GLUE_REPO, write_glue)):
        path = root / "datasets" / repo_id
        path.mkdir(parents=True, exist_ok=True)
        (path / "README.md").write_text(f"# {repo_id} stand-in\n")
        commit_all(path, "stand-in: README")
        writer(path)
        heads[f"datasets/{repo_id}"] = commit_all(path, "stand-in: data")
    return heads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/rehearsal/standins.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write every stand-in repository under MIRRORS")
    b.add_argument("mirrors")
    b.add_argument("--scale", choices=sorted(SCALES), default="rehearsal")
    c = sub.add_parser("commit", help="one more commit on main of MIRRORS/REPO (models/<org>/<name>)")
    c.add_argument("mirrors")
    c.add_argument("repo")
    args = parser.parse_args(argv)
    if args.command == "build":
        for key, sha in build_mirrors(args.mirrors, args.scale).items():
            print(f"{key} {sha}")
    else:
        print(add_commit(args.mirrors, args.repo))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
