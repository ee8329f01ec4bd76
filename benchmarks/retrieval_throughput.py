"""Retrieval throughput on a toy: batched decoding vs a one-trial-at-a-time `generate()` loop, timed honestly.

Variants, on the same trials (intact model, no intervention):
- `batched`: `evaluate.run_conditions` with kind none: length batches of `--batch-size`, SDPA prefill,
  scoring and parquet writing included (the production path);
- `batched-k1`: the same with entropy top-1 in the generation phase (the intervened path);
- `generate-1x1`: `model.generate(do_sample=False)` per trial, batch 1 (how the authors ran).
One warm-up call of each first; then `--repetitions` (>= 3) rounds, the variant order rotated each round;
medians, and the ratios of medians, from this one run; machine and thread count printed. Also checks
that `batched` and `generate-1x1` produce the same text (whole-prompt boundary: HF generate's).

    .venv/bin/python benchmarks/retrieval_throughput.py [--model-dir resources/models/toy-recurrent-gemma]

Without a trained toy in --model-dir an untrained toy of the same geometry is built (1 training step):
it never stops at EOS, so every trial decodes --max-new-tokens tokens.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from hybrid_retrieval.interventions import InterventionSpec
from hybrid_retrieval.jobs.evaluate import run_conditions
from hybrid_retrieval.models.loading import load_model
from hybrid_retrieval.tasks.haystack import SyntheticHaystack, SyntheticNeedles
from hybrid_retrieval.tasks.niah import build_trials


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-dir", type=Path, default=Path("resources/models/toy-recurrent-gemma"))
    parser.add_argument(
        "--arch", default="recurrent_gemma", help="arch of the untrained toy, if one is built"
    )
    parser.add_argument("--lengths", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--depths", type=float, nargs="+", default=[0, 25, 50, 75, 100])
    parser.add_argument("--replicates", type=int, default=2, help="trials per (length, depth) cell")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=12)
    parser.add_argument("--frame-reserve", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args()
    if args.repetitions < 3:
        parser.error("--repetitions must be >= 3")
    torch.set_num_threads(args.threads)
    scratch = Path(tempfile.mkdtemp(prefix="retrieval-bench-"))
    model_dir = args.model_dir
    if not (model_dir / "config.json").exists():
        from hybrid_retrieval.models.toy import train_toy

        model_dir = scratch / f"untrained-{args.arch}"
        train_toy(args.arch, model_dir, seed=0, steps=1, warmup_steps=0, curriculum=[[128, 1.0]],
                  eval_trials=1, eval_lengths=[64], mc_shots=[0])  # fmt: skip
    loaded = load_model(model_dir)
    metadata_file = model_dir / "toy_metadata.json"
    language_seed = json.loads(metadata_file.read_text())["seed"] if metadata_file.exists() else 0
    trials = build_trials(
        loaded.tokenizer,
        haystack=SyntheticHaystack(language_seed=language_seed, seed=0),
        needles=SyntheticNeedles(language_seed=language_seed),
        context_lengths=args.lengths,
        depths=args.depths,
        prompt_variant="base",
        frame_reserve=args.frame_reserve,
        seed=0,
        trials_per_cell=args.replicates,
    )
    n = len(trials)
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs; torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s)")  # fmt: skip
    print(
        f"model: {model_dir} ({loaded.model.config.model_type}, {loaded.model.num_parameters():,} parameters)"
    )
    print(f"{n} trials, lengths {args.lengths}, batch size {args.batch_size}, max_new_tokens {args.max_new_tokens}, "
          f"{args.repetitions} repetitions, rotated order")  # fmt: skip
    eos = loaded.tokenizer.eos_token_id
    texts: dict[str, list[str]] = {}

    def batched(spec: InterventionSpec, name: str, subset=trials) -> None:
        out = scratch / f"{name}.parquet"
        out.unlink(missing_ok=True)
        rows = run_conditions(
            loaded, subset, [spec], experiment="benchmark", max_new_tokens=args.max_new_tokens,
            batch_size=args.batch_size, out_path=out, prefill_boundary="whole_prompt", resume=False,
        )  # fmt: skip
        texts[name] = rows.sort("trial_id")["output"].to_list()

    def one_at_a_time(subset=trials) -> None:
        outputs = {}
        with torch.no_grad():
            for trial in subset:
                ids = torch.tensor([trial.input_ids])
                out = loaded.model.generate(
                    ids, attention_mask=torch.ones_like(ids), max_new_tokens=args.max_new_tokens,
                    do_sample=False, eos_token_id=eos, pad_token_id=loaded.tokenizer.pad_token_id,
                )  # fmt: skip
                outputs[trial.trial_id] = loaded.tokenizer.decode(
                    out[0, ids.shape[1] :], skip_special_tokens=True
                )
        texts["generate-1x1"] = [outputs[k] for k in sorted(outputs)]

    variants = {
        "batched": lambda **kw: batched(InterventionSpec(kind="none"), "batched", **kw),
        "batched-k1": lambda **kw: batched(InterventionSpec(kind="entropy_topk", k=1), "batched-k1", **kw),
        "generate-1x1": one_at_a_time,
    }
    for run in variants.values():  # warm-up
        run(subset=trials[:2])
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for rep in range(args.repetitions):
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            start = time.perf_counter()
            variants[name]()
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"\n{'variant':<14}{'median s':>10}{'min s':>9}{'max s':>9}{'trials/s':>10}")
    for name in names:
        print(
            f"{name:<14}{medians[name]:>10.2f}{min(times[name]):>9.2f}{max(times[name]):>9.2f}{n / medians[name]:>10.2f}"
        )
    print(
        f"\nbatched vs one-at-a-time generate(): {medians['generate-1x1'] / medians['batched']:.2f}x (target >= 5x)"
    )
    print(
        f"entropy top-1 / intact throughput:  {medians['batched'] / medians['batched-k1']:.2f} (target >= 0.8)"
    )
    same = sum(a == b for a, b in zip(texts["batched"], texts["generate-1x1"], strict=True))
    print(f"same text, batched vs generate-1x1: {same}/{n}")


if __name__ == "__main__":
    main()
