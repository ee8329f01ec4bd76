"""The E4 sparsity-sweep job on a toy, timed honestly: this checkout vs another checkout (e.g. c87d76a).

    git worktree add /tmp/base c87d76a
    .venv/bin/python benchmarks/sweep_throughput.py --base-src /tmp/base/src [--arch recurrent_gemma]

Each measurement is a fresh process that runs `experiments.run_experiment("sparsity_sweep", ...)` with the
sweep section and grid of config/config.yaml, once on a 1-trial grid (warm-up, untimed) and once on the
full grid (timed, model loading excluded). Variants:
- `base`: the code under --base-src (PYTHONPATH), its own defaults;
- `new`: this checkout, its defaults (shared SDPA prefill, the authors' prefill boundary);
- `new-serial`: this checkout, one condition at a time with an eager prefill each (the old way of
  running, same code): its rows must equal `new`'s exactly.
- `new-compat`: this checkout with the options that restore the base's protocol (whole-prompt prefill,
  inline needle, sentence-end insertion, word-LCS scoring): its outputs are compared with `base`'s.
Repetitions rotate the variant order; medians and ratios come from this one run. The model is the toy
in --model-dir when it exists, else an untrained toy of the same geometry (1 training step, built once
into a temporary folder): speed does not depend on the weights, and an untrained toy never stops early.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPAT = {"needle_format": "inline", "insertion": "sentence_end", "scoring": "word_lcs"}


def job_params(config: Path, smoke: bool) -> tuple[dict, dict]:
    cfg = yaml.safe_load(config.read_text())
    section = dict(cfg["experiments"]["sparsity_sweep"])
    grid = {**cfg["retrieval"], **section.pop("grid", {})}
    for key in ("enabled", "models"):
        section.pop(key, None)
    if smoke:
        grid = {**grid, "context_lengths": grid["context_lengths"][:1], "depths": grid["depths"][:1]}
    return grid, section


def child(args: argparse.Namespace) -> None:
    """One measurement in this process: warm-up job, then the timed job; prints a JSON line."""
    import torch

    from hybrid_retrieval.jobs import experiments

    torch.set_num_threads(args.threads)
    grid, settings = job_params(Path(args.config), smoke=False)
    warm_grid, _ = job_params(Path(args.config), smoke=True)
    model = {
        "name": f"toy-{args.arch.replace('_', '-')}", "dtype": "float32", "chat_template": False,
        "prefill_boundary": "auto",
    }
    if args.variant == "new-compat":
        model["prefill_boundary"] = "whole_prompt"
        grid, warm_grid = {**grid, **COMPAT}, {**warm_grid, **COMPAT}
    haystack = {"kind": "synthetic", "language_seed": 0, "seed": 0}
    common = dict(
        model=model, haystack=haystack, settings=settings, head_scores_path=args.scores, threads=args.threads
    )
    if args.variant == "new-serial":
        from hybrid_retrieval.jobs import evaluate

        real = evaluate.run_conditions

        def serial(loaded, trials, specs, **kwargs):
            kwargs["fast_prefill"] = False
            for spec in specs:
                real(loaded, trials, [spec], **kwargs)
            return real(loaded, trials, specs, **kwargs)  # all rows exist now: reads them back

        experiments.run_conditions = serial
    with tempfile.TemporaryDirectory() as tmp:
        experiments.run_experiment(
            args.model_dir, "sparsity_sweep", grid=warm_grid, out_path=f"{tmp}/w.parquet", **common
        )
        real_load = experiments.load
        loading = []

        def timed_load(*a, **k):
            start = time.perf_counter()
            out = real_load(*a, **k)
            loading.append(time.perf_counter() - start)
            return out

        experiments.load = timed_load
        start = time.perf_counter()
        experiments.run_experiment(args.model_dir, "sparsity_sweep", grid=grid, out_path=args.out, **common)
        seconds = time.perf_counter() - start - sum(loading)
    print(json.dumps({"variant": args.variant, "seconds": seconds}))


def ensure_model(arch: str, model_dir: Path | None, scratch: Path) -> Path:
    if model_dir is not None and (model_dir / "config.json").exists():
        return model_dir
    from hybrid_retrieval.models.toy import train_toy

    out = scratch / f"untrained-{arch}"
    train_toy(arch, out, seed=0, steps=1, warmup_steps=0, curriculum=[[128, 1.0]], eval_trials=1,
              eval_lengths=[64], mc_shots=[0])  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--arch", choices=["recurrent_gemma", "jamba"], default="recurrent_gemma")
    parser.add_argument("--model-dir", type=Path, default=None, help="a trained toy (default: untrained toy)")
    parser.add_argument("--base-src", type=Path, default=None, help="src/ of the checkout to compare with")
    parser.add_argument(
        "--new-src", type=Path, default=ROOT / "src", help="src/ of the new code (default: this checkout's)"
    )
    parser.add_argument("--config", default=str(ROOT / "config" / "config.yaml"))
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--variants", nargs="+", default=None)
    parser.add_argument("--child", dest="variant", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--scores", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        child(args)
        return
    if args.repetitions < 3:
        parser.error("--repetitions must be >= 3 (medians of fewer are not worth reporting)")
    variants = args.variants or (["base", "new", "new-serial"] if args.base_src else ["new", "new-serial"])
    if any(v in ("base",) for v in variants) and args.base_src is None:
        parser.error("variant 'base' needs --base-src")

    import polars as pl

    scratch = Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    model_dir = ensure_model(args.arch, args.model_dir, scratch)
    scores = scratch / "scores.parquet"
    from hybrid_retrieval.jobs.experiments import run_head_scores

    grid, _ = job_params(Path(args.config), smoke=False)
    run_head_scores(
        model_dir,
        model={"name": "toy", "dtype": "float32", "chat_template": False, "prefill_boundary": "auto"},
        grid={**grid, "context_lengths": grid["context_lengths"][:1], "depths": [25, 75]},
        haystack={"kind": "synthetic", "language_seed": 0, "seed": 0},
        settings={"phase": "generation", "max_answer_tokens": 12},
        out_path=scores,
        threads=args.threads,
    )
    print(f"machine: {platform.node()} {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs; "
          f"python {platform.python_version()}; torch threads {args.threads}")  # fmt: skip
    print(
        f"model: {model_dir} ({args.arch}); variants {variants}; {args.repetitions} repetitions, rotated order"
    )
    times: dict[str, list[float]] = {v: [] for v in variants}
    outputs: dict[str, Path] = {}
    for rep in range(args.repetitions):
        order = variants[rep % len(variants) :] + variants[: rep % len(variants)]
        for variant in order:
            out = scratch / f"{variant}-{rep}.parquet"
            env = dict(os.environ)
            src = args.base_src if variant == "base" else args.new_src
            env["PYTHONPATH"] = str(Path(src).resolve())
            cmd = [sys.executable, __file__, "--child", variant, "--arch", args.arch, "--model-dir", str(model_dir),
                   "--config", args.config, "--threads", str(args.threads), "--out", str(out), "--scores", str(scores)]  # fmt: skip
            result = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
            if result.returncode:
                sys.exit(f"{variant} failed:\n{result.stderr[-3000:]}")
            seconds = json.loads(result.stdout.strip().splitlines()[-1])["seconds"]
            times[variant].append(seconds)
            outputs[variant] = out
            print(f"  rep {rep} {variant:<11} {seconds:8.2f} s", flush=True)
    medians = {v: statistics.median(t) for v, t in times.items()}
    rows = pl.read_parquet(outputs[variants[0]]).height
    print(f"\n{'variant':<12}{'median s':>10}{'min s':>9}{'max s':>9}   ({rows} rows per job)")
    for v in variants:
        print(f"{v:<12}{medians[v]:>10.2f}{min(times[v]):>9.2f}{max(times[v]):>9.2f}")
    if "new-serial" in medians and "new" in medians:
        same = pl.read_parquet(outputs["new"]).equals(pl.read_parquet(outputs["new-serial"]))
        print(f"new vs new-serial (same code, one condition at a time, eager prefill): "
              f"{medians['new-serial'] / medians['new']:.2f}x faster; rows identical: {same}")  # fmt: skip
    if "base" in medians:
        for v in ("new", "new-compat"):
            if v in medians:
                print(f"{v} vs base: {medians['base'] / medians[v]:.2f}x faster (target >= 3x)")
    if "base" in medians and "new-compat" in medians:
        keys = ["context_length", "depth", "condition"]
        base = pl.read_parquet(outputs["base"]).select(*keys, "output", "score").sort(keys)
        compat = pl.read_parquet(outputs["new-compat"]).select(*keys, "output", "score").sort(keys)
        same_out = base["output"].to_list() == compat["output"].to_list()
        print(f"new-compat vs base: same conditions x cells: {base.select(keys).equals(compat.select(keys))}, "
              f"same outputs: {same_out}")  # fmt: skip


if __name__ == "__main__":
    main()
