"""Resumable toy training: a checkpoint of everything the remaining steps depend on, so a killed, preempted
or requeued training job resumes where it stopped and ends with the weights of an uninterrupted run, bit
for bit.

The checkpoint holds the model, AdamW's and the schedule's state, the losses so far, the data stream's
position (the state of its `random.Random`) and the global RNG states of torch, numpy and Python. It is
written atomically (temporary file, fsync, rename) every `every` steps and after the last one, to
`<models dir>/.progress/<model>.<key>.train.pt`: beside the model directory, not in it, so Snakemake, which
deletes a failed job's declared outputs, keeps it. The key hashes everything the weights depend on: the
architecture, the seed, every `ToyTrainConfig` field, the code digest of the toy package and the kernels
(torch and transformers versions, numerics). A checkpoint under another key is ignored, said in the log
and deleted. Saving only reads states and draws from no RNG, so the interval (not a training option) never
changes the weights. The checkpoint is removed once the model is published. Toys train on the CPU: no CUDA
RNG state is kept.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import pickle
import random
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers

from hybrid_retrieval.errors import ConfigError, HybridRetrievalError
from hybrid_retrieval.infra import numerics
from hybrid_retrieval.io import atomic_path
from hybrid_retrieval.models.toy.recipe import ToyTrainConfig

log = logging.getLogger(__name__)

CHECKPOINT_EVERY = 100  # steps; the Jamba toy's 3,000 steps take ~15 min on one core: ~30 s lost at most
_FORMAT = 1
_SUFFIX = ".train.pt"
_READ_ERRORS = (OSError, EOFError, RuntimeError, ValueError, KeyError, TypeError, pickle.UnpicklingError)


class CheckpointError(HybridRetrievalError):
    """A checkpoint under the right key that cannot be applied to the model being trained."""


def checkpoint_key(arch: str, seed: int, config: ToyTrainConfig) -> str:
    """16 hex chars over everything that changes the weights: a checkpoint made under another key would
    resume into other weights than an uninterrupted run of this one."""
    kernels = numerics.numerics_state()
    params = {
        "arch": arch,
        "seed": seed,
        "config": asdict(config),
        "code": _toy_code_digest(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        # not torch_threads: training sets its own (config.threads); not `reason`: prose
        "numerics": {k: kernels.get(k) for k in ("mode", "effective", "cpu_capability", "mkldnn_enabled")},
        "dispatch": kernels.get("environment"),
    }
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _toy_code_digest() -> str:
    """The workflow's code param of train_toy_model (common.smk CODE["toy"]). workflow_support is looked up
    at run time, not imported: an import would put it in that digest, and its edits (job logs) would then
    retrain the toys without changing their weights."""
    support = importlib.import_module("hybrid_retrieval.infra.workflow_support")
    return support.code_digest("hybrid_retrieval.models.toy", "hybrid_retrieval.infra.numerics")


class TrainingCheckpoint:
    """The checkpoint of one training run: where it lives, its key, how often it is written."""

    def __init__(self, path: str | os.PathLike[str], key: str, every: int = CHECKPOINT_EVERY) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ConfigError(
                f"checkpoint_every must be an int >= 1 (steps between checkpoints), got {every!r}; "
                "pass None for no checkpoints"
            )
        self.path, self.key, self.every = Path(path), key, every
        self.resumed_at = 0  # the step the last `resume` continued from (0: from the start)

    @classmethod
    def beside(
        cls, out_dir: str | os.PathLike[str], arch: str, seed: int, config: ToyTrainConfig, every: int
    ) -> TrainingCheckpoint:
        """The checkpoint of training `arch` into `out_dir`: `<parent>/.progress/<name>.<key>.train.pt`."""
        out_dir = Path(out_dir)
        key = checkpoint_key(arch, seed, config)
        return cls(out_dir.parent / ".progress" / f"{out_dir.name}.{key}{_SUFFIX}", key, every)

    def due(self, step: int, steps: int) -> bool:
        return step % self.every == 0 or step == steps

    def save(
        self,
        step: int,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        schedule: torch.optim.lr_scheduler.LRScheduler,
        data_rng: random.Random,
        losses: list[float],
    ) -> None:
        """Write the state after `step` atomically (fsynced before the rename: a kill never leaves half)."""
        name, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
        state = {
            "format": _FORMAT,
            "key": self.key,
            "step": step,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "schedule": schedule.state_dict(),
            "losses": list(losses),
            "data_rng": data_rng.getstate(),
            "python_rng": random.getstate(),
            "numpy_rng": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached_gaussian],
            "torch_rng": torch.get_rng_state(),
        }
        with atomic_path(self.path) as tmp, tmp.open("wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())

    def resume(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        schedule: torch.optim.lr_scheduler.LRScheduler,
        data_rng: random.Random,
    ) -> tuple[int, list[float]]:
        """Restore the last checkpoint into the fresh model, optimizer, schedule and data stream; returns
        (steps done, their losses), (0, []) without a usable checkpoint."""
        state = self._load()
        if state is None:
            return 0, []
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            schedule.load_state_dict(state["schedule"])
        except _READ_ERRORS as e:
            raise CheckpointError(
                f"the training checkpoint {self.path} does not fit the model being trained ({e}); "
                "delete it to train from step 0"
            ) from e
        data_rng.setstate(_tuples(state["data_rng"]))
        random.setstate(_tuples(state["python_rng"]))
        name, keys, pos, has_gauss, cached_gaussian = state["numpy_rng"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached_gaussian))
        torch.set_rng_state(state["torch_rng"])
        self.resumed_at = state["step"]
        return state["step"], list(state["losses"])

    def remove(self) -> None:
        """Delete the checkpoint (the model is complete), and its folder when nothing else is in it."""
        self.path.unlink(missing_ok=True)
        try:
            self.path.parent.rmdir()
        except OSError:
            pass  # other jobs' checkpoints or side files are there, or it is gone

    def _load(self) -> dict[str, Any] | None:
        self._drop_stale()
        if not self.path.is_file():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
            if state.get("format") != _FORMAT or state.get("key") != self.key:
                raise ValueError(f"format {state.get('format')!r}, key {state.get('key')!r}")
            step = state["step"]
            if not isinstance(step, int) or step < 1 or len(state["losses"]) != step:
                raise ValueError(f"step {step!r} with {len(state['losses'])} losses")
        except _READ_ERRORS as e:
            log.warning(
                "cannot read the training checkpoint %s (%s); deleting it, training from step 0", self.path, e
            )
            self.path.unlink(missing_ok=True)
            return None
        return state

    def _drop_stale(self) -> None:
        """Checkpoints of this model under another key: other training parameters, code or kernels."""
        model_name = self.path.name[: -len(f".{self.key}{_SUFFIX}")]
        pattern = re.compile(rf"{re.escape(model_name)}\.[0-9a-f]{{16}}{re.escape(_SUFFIX)}")
        if not self.path.parent.is_dir():
            return
        for other in sorted(self.path.parent.iterdir()):
            if other != self.path and pattern.fullmatch(other.name):
                log.warning(
                    "ignoring the training checkpoint %s: it was made with other training parameters, code "
                    "or kernels (key %s, this run's %s); deleting it",
                    other,
                    other.name[len(model_name) + 1 : -len(_SUFFIX)],
                    self.key,
                )
                other.unlink(missing_ok=True)


def _tuples(value: Any) -> Any:
    """random.setstate wants tuples; a checkpoint may hand back lists."""
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value
