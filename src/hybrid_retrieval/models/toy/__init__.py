"""Tiny RecurrentGemma and Jamba models trained on the synthetic language, on a CPU, in minutes.

`train_toy` builds the word-level tokenizer, a small config of the real transformers class, trains it
with answer-only loss on needle-test prompts (the exact `build_prompt` frames) plus fact sentences and
MMLU-format questions, and saves everything in a hub-snapshot layout, so downstream code loads toy and
real models the same way. Its modules: `recipe` (sizes and training settings), `corpus` (training
sequences), `training` (building and training), `evaluation` (the toy's own scores); saving is here. The
recipe is a short-context curriculum with warmup + cosine: without the curriculum, retrieval sits on a long
plateau before it appears.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from hybrid_retrieval.errors import ConfigError
from hybrid_retrieval.filenames import TOY_METADATA_FILE
from hybrid_retrieval.io import atomic_path, write_json
from hybrid_retrieval.models.toy.checkpoint import CHECKPOINT_EVERY, TrainingCheckpoint
from hybrid_retrieval.models.toy.corpus import ToyCorpus
from hybrid_retrieval.models.toy.evaluation import (
    evaluate_toy,
    greedy_decode,
    heldout_trials,
    mc_accuracy,
    retrieval_accuracy,
)
from hybrid_retrieval.models.toy.recipe import (
    LOSS_MEANS,
    TOY_ARCHS,
    ToyTrainConfig,
    make_config,
)
from hybrid_retrieval.models.toy.training import (
    build_model,
    deterministic_torch,
    lm_loss,
    mamba_reference_init,
    step_stages,
    train,
)
from hybrid_retrieval.tasks.synthetic import SUBJECTS, SyntheticLanguage
from hybrid_retrieval.tasks.tokenizer import build_word_tokenizer

__all__ = [
    "LOSS_MEANS",
    "METADATA_FILE",
    "TOY_ARCHS",
    "ToyCorpus",
    "ToyTrainConfig",
    "build_model",
    "deterministic_torch",
    "evaluate_toy",
    "file_sha256",
    "greedy_decode",
    "heldout_trials",
    "lm_loss",
    "make_config",
    "mamba_reference_init",
    "mc_accuracy",
    "retrieval_accuracy",
    "step_stages",
    "train",
    "train_toy",
    "write_mc_csv",
]

METADATA_FILE = TOY_METADATA_FILE  # hybrid_retrieval.filenames


def write_mc_csv(language: SyntheticLanguage, root: Path) -> None:
    """MMLU's original layout: `{dev,test}/<subject>_<split>.csv`, no header, question, A-D, answer."""
    for split in ("dev", "test"):
        questions = language.mc_questions(split)
        for subject in SUBJECTS:
            path = root / split / f"{subject}_{split}.csv"
            with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f)
                for q in questions:
                    if q.subject == subject:
                        writer.writerow([q.question, *q.choices, q.answer])


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _publish(tmp_dir: Path, out_dir: Path) -> None:
    """Replace `out_dir` by the finished `tmp_dir`: readers never see a half-written model."""
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        os.replace(out_dir, old)
        os.replace(tmp_dir, out_dir)
        shutil.rmtree(old)
    else:
        os.replace(tmp_dir, out_dir)


def train_toy(
    arch: str,
    out_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    checkpoint_every: int | None = CHECKPOINT_EVERY,
    **overrides: Any,
) -> dict[str, Any]:
    """Train the toy `arch` ("recurrent_gemma" | "jamba") into `out_dir`; returns the metadata written.
    `checkpoint_every`: steps between checkpoints beside `out_dir` (`checkpoint.TrainingCheckpoint`), from
    which a rerun resumes to the same weights; removed once the model is published. None: no checkpoints."""
    config = make_config(arch, **overrides)
    if not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative int, got {seed!r}")
    out_dir = Path(out_dir)
    checkpoint = (
        None
        if checkpoint_every is None
        else TrainingCheckpoint.beside(out_dir, arch, seed, config, checkpoint_every)
    )
    language = SyntheticLanguage(seed)
    tokenizer = build_word_tokenizer(language.vocabulary())
    with deterministic_torch(seed, config.threads):
        model = build_model(arch, config, tokenizer)
        start, cpu_start = time.perf_counter(), time.process_time()
        losses = train(model, ToyCorpus(language, tokenizer, config), config, seed, checkpoint)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        scores = evaluate_toy(model, tokenizer, language, config, seed)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        model.save_pretrained(tmp_dir)
        tokenizer.save_pretrained(tmp_dir)
        write_mc_csv(language, tmp_dir / "mc")
        metadata = {
            "arch": arch,
            "model_type": model.config.model_type,
            "seed": seed,
            "steps": config.steps,
            "train_seconds": round(seconds, 2),
            "train_cpu_seconds": round(cpu_seconds, 2),  # the budget is CPU time (2-core machine)
            # a resumed run: the times above are this run's, from that step on
            **({"resumed_at_step": checkpoint.resumed_at} if checkpoint and checkpoint.resumed_at else {}),
            "num_parameters": model.num_parameters(),
            "final_loss": sum(losses[-20:]) / len(losses[-20:]),
            **scores,
            "weights_sha256": file_sha256(tmp_dir / "model.safetensors"),
            "config": json.loads(json.dumps(asdict(replace(config)), default=list)),
            "torch_version": torch.__version__,
        }
        write_json(metadata, tmp_dir / METADATA_FILE)
        _publish(tmp_dir, out_dir)
        if checkpoint is not None:
            checkpoint.remove()
    finally:
        if tmp_dir.exists():
            shutil.rmtree(tmp_dir)
    return metadata
