"""Building a toy (the real transformers class at the recipe's size) and training it: AdamW with warmup +
cosine over the curriculum, deterministic kernels, a progress line with an ETA every 50 steps, and (given a
`TrainingCheckpoint`) a checkpoint every N steps that a rerun resumes from, to the same weights."""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from transformers import (
    FalconH1ForCausalLM,
    JambaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    RecurrentGemmaForCausalLM,
    get_cosine_schedule_with_warmup,
)

from hybrid_retrieval.errors import ConfigError
from hybrid_retrieval.models.toy.checkpoint import TrainingCheckpoint
from hybrid_retrieval.models.toy.corpus import ToyCorpus
from hybrid_retrieval.models.toy.recipe import CONFIG_CLASSES, ToyTrainConfig

log = logging.getLogger(__name__)

# Built by the class itself (not AutoModelForCausalLM.from_config), as the trained reference weights were.
_MODEL_CLASSES = {
    "recurrent_gemma": RecurrentGemmaForCausalLM,
    "jamba": JambaForCausalLM,
    "falcon_h1": FalconH1ForCausalLM,
}


def build_model(arch: str, config: ToyTrainConfig, tokenizer: PreTrainedTokenizerBase) -> PreTrainedModel:
    ids = {
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }
    try:
        model = _MODEL_CLASSES[arch](CONFIG_CLASSES[arch](**ids, **config.model))
    except (TypeError, ValueError) as e:
        raise ConfigError(f"invalid model override {config.model} for {arch}: {e}") from e
    if arch == "jamba":
        mamba_reference_init(model)
    return model


@torch.no_grad()
def mamba_reference_init(model: PreTrainedModel) -> None:
    """Re-initialise every Mamba mixer's conv and time step as the reference `mamba_ssm` does.

    transformers' Jamba init draws the depthwise conv from N(0, 0.02) and sets the time-step bias to 0
    (dt = softplus(0) = 0.69 for every channel), which leaves the conv's previous-token features ~15x
    smaller than PyTorch's default and every channel forgetting at the same fast rate. Measured on a
    pure copy (induction) task, 3 layers, 128-token vocabulary: with transformers' init the loss stayed
    at chance for 400 steps, with the reference init (conv: PyTorch's default; dt_proj weight
    U(+-rank^-1/2); dt log-uniform in [1e-3, 1e-1] through the inverse softplus) it fell to 0.3 after
    250 steps. RecurrentGemma learns the same task in 150 steps either way. Only training starts here;
    loaded checkpoints are never touched.
    """
    for module in model.modules():
        if not (hasattr(module, "conv1d") and hasattr(module, "dt_proj")):
            continue
        module.conv1d.reset_parameters()
        rank = module.dt_proj.weight.shape[1]
        module.dt_proj.weight.uniform_(-(rank**-0.5), rank**-0.5)
        log_lo, log_hi = math.log(1e-3), math.log(1e-1)
        dt = torch.exp(torch.rand(module.dt_proj.bias.shape) * (log_hi - log_lo) + log_lo).clamp(min=1e-4)
        module.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus


@contextmanager
def deterministic_torch(seed: int, threads: int) -> Iterator[None]:
    """Seeded, deterministic kernels, fixed thread count; the global torch settings are restored after."""
    old_threads, old_det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    old_fill = torch.utils.deterministic.fill_uninitialized_memory
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    # Filling every new tensor with NaN (the deterministic default) costs ~40% of a CPU step and buys
    # nothing here: no kernel reads uninitialised memory.
    torch.utils.deterministic.fill_uninitialized_memory = False
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det)
        torch.utils.deterministic.fill_uninitialized_memory = old_fill


def step_stages(config: ToyTrainConfig) -> list[tuple[int, float]]:
    """(sequence length, knowledge fraction) of every training step, from the curriculum."""
    stages: list[tuple[int, float]] = []
    for length, fraction, *knowledge in config.curriculum:
        stage = (length, knowledge[0] if knowledge else config.knowledge_fraction)
        stages += [stage] * round(fraction * config.steps)
    return (stages + [stage] * config.steps)[: config.steps]  # rounding: the last stage fills up


def lm_loss(logits: torch.Tensor, labels: torch.Tensor, mean: str) -> torch.Tensor:
    """Next-token cross-entropy over the supervised positions (labels != -100), averaged per `mean`."""
    targets = labels[:, 1:]
    if mean == "token":
        return F.cross_entropy(logits[:, :-1].flatten(0, 1), targets.flatten(), ignore_index=-100)
    per_token = F.cross_entropy(
        logits[:, :-1].transpose(1, 2), targets, ignore_index=-100, reduction="none"
    )  # [batch, length - 1], 0 where unsupervised
    counts = (targets != -100).sum(dim=1)
    supervised = counts > 0
    return (per_token.sum(dim=1)[supervised] / counts[supervised]).mean()


def train(
    model: PreTrainedModel,
    corpus: ToyCorpus,
    config: ToyTrainConfig,
    seed: int,
    checkpoint: TrainingCheckpoint | None = None,
) -> list[float]:
    """AdamW with warmup + cosine; returns the loss of every step. With `checkpoint`: resumes from it when
    there is one (the log says "resumed at step N"), and saves one every `checkpoint.every` steps and
    after the last; neither draws from any RNG, so the weights are those of a run without checkpoints."""
    rng = random.Random(f"toy-train-{seed}")
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, betas=(0.9, 0.95), weight_decay=config.weight_decay
    )
    schedule = get_cosine_schedule_with_warmup(optimizer, config.warmup_steps, config.steps)
    model.train()
    losses: list[float] = []
    done = 0  # steps restored from the checkpoint
    if checkpoint is not None:
        done, losses = checkpoint.resume(model, optimizer, schedule, rng)
        if done:
            log.info("resumed at step %d/%d from %s", done, config.steps, checkpoint.path)
        log.info("checkpoint every %d steps: %s", checkpoint.every, checkpoint.path)
    start = time.perf_counter()
    for step, (length, knowledge_fraction) in enumerate(step_stages(config), start=1):
        if step <= done:
            continue
        input_ids, labels = corpus.batch(rng, length, knowledge_fraction)
        logits = model(input_ids=input_ids, use_cache=False).logits  # [batch, length, vocab]
        loss = lm_loss(logits, labels, config.loss_mean)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if checkpoint is not None and checkpoint.due(step, config.steps):
            checkpoint.save(step, model, optimizer, schedule, rng, losses)
        if step % 50 == 0 or step == config.steps:
            recent = sum(losses[-50:]) / len(losses[-50:])
            elapsed = time.perf_counter() - start
            # ETA from the mean step time so far (later curriculum stages have longer sequences: a lower bound).
            eta = elapsed / (step - done) * (config.steps - step)
            log.info(
                "step %d/%d (%.0f%%) length %d loss %.4f (%.0f s, about %.0f s left)",
                step,
                config.steps,
                100 * step / config.steps,
                length,
                recent,
                elapsed,
                eta,
            )
    model.eval()
    return losses
