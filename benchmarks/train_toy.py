"""Train the default toy models and print time, speed, held-out retrieval and multiple-choice accuracy.

Also checks that retrieval lives in attention: with every attention module's output zeroed (forward
hooks, the model is untouched otherwise), held-out retrieval should drop to ~0.

    .venv/bin/python benchmarks/train_toy.py [--out DIR] [--arch recurrent_gemma jamba] [--seed 0]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from contextlib import contextmanager
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from hybrid_retrieval.models.toy import TOY_ARCHS, heldout_trials, make_config, retrieval_accuracy, train_toy
from hybrid_retrieval.tasks.synthetic import SyntheticLanguage


@contextmanager
def attention_zeroed(model: torch.nn.Module):
    """Zero the output of every attention module (RecurrentGemmaSdpaAttention, JambaAttention)."""

    def zero(_module, _inputs, output):
        if isinstance(output, tuple):
            return (torch.zeros_like(output[0]), *output[1:])
        return torch.zeros_like(output)

    attention = [m for m in model.modules() if type(m).__name__.endswith("Attention")]
    handles = [m.register_forward_hook(zero) for m in attention]
    try:
        yield len(attention)
    finally:
        for handle in handles:
            handle.remove()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=None, help="parent directory of the trained toys (default: a temp dir)"
    )
    parser.add_argument("--arch", nargs="+", default=list(TOY_ARCHS), choices=TOY_ARCHS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    root = args.out or Path(tempfile.mkdtemp(prefix="toys-"))
    rows = []
    for arch in args.arch:
        out = root / f"toy-{arch.replace('_', '-')}"
        meta = train_toy(arch, out, seed=args.seed)
        model = AutoModelForCausalLM.from_pretrained(out).eval()
        tokenizer = AutoTokenizer.from_pretrained(out)
        config = make_config(arch)
        trials = heldout_trials(
            SyntheticLanguage(args.seed), tokenizer, config.eval_lengths, config.eval_trials, args.seed
        )
        with attention_zeroed(model) as n_layers:
            ablated = retrieval_accuracy(model, trials)
        n = sum(len(t) for t in trials.values())
        ablated_rate = sum(ablated[k] * len(trials[k]) for k in trials) / n
        rows.append((arch, meta, n_layers, ablated_rate))
        print(f"{arch}: by length {meta['retrieval_exact_by_length']}, attention zeroed by length {ablated}")
    print(f"\ntoys in {root}")
    print("arch             params  steps  seconds  steps/s  retrieval  mc(0-shot)  mc(5-shot)  attn-zeroed")
    for arch, meta, n_layers, ablated_rate in rows:
        mc = meta["mc_accuracy_by_shots"]
        print(
            f"{arch:15s} {meta['num_parameters']:7d} {meta['steps']:6d} {meta['train_seconds']:8.1f} "
            f"{meta['steps'] / meta['train_seconds']:8.2f} {meta['retrieval_exact']:10.3f} "
            f"{mc.get('0', float('nan')):11.3f} {mc.get('5', float('nan')):11.3f} "
            f"{ablated_rate:8.3f} ({n_layers} layers)"
        )


if __name__ == "__main__":
    main()
