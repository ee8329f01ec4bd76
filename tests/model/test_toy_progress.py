"""Toy training reports its progress with an ETA (the console is otherwise silent for minutes)."""

import logging
import re

from hybrid_retrieval.models.toy import train_toy

TINY = {
    "model": {
        "hidden_size": 32,
        "intermediate_size": 64,
        "lru_width": 32,
        "num_hidden_layers": 3,
        "num_attention_heads": 2,
    },
    "steps": 50,
    "warmup_steps": 1,
    "curriculum": [[64, 1.0]],
    "tokens_per_step": 128,
    "eval_lengths": [64],
    "eval_trials": 2,
    "mc_shots": [0],
}


def test_training_logs_progress_with_eta(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="hybrid_retrieval"):
        train_toy("recurrent_gemma", tmp_path / "toy", **TINY)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("step ")]
    assert lines and re.fullmatch(
        r"step 50/50 \(100%\) length 64 loss \S+ \(\d+ s, about 0 s left\)", lines[-1]
    )
