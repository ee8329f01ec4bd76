"""CPU cost of portable numerics on toy training: native vs portable kernels, same steps, fresh processes.

Each round starts one fresh process per variant (rotated order, so machine load drifts over all of them
alike); a process sets its numerics before torch loads, builds the default toy model, trains `--warmup`
steps unmeasured, then `--steps` measured steps at one sequence length, on one thread (as `train_toy`
does), and reports its CPU seconds per step. The script prints the median per variant and its ratio to
native, from this one invocation.

    .venv/bin/python benchmarks/numerics_cost.py [--arch recurrent_gemma jamba] [--rounds 3] [--steps 20]

Variants: native (the libraries' kernels for this CPU), portable (hybrid_retrieval.infra.numerics: ATen AVX2,
MKL CNR AVX2 strict, oneDNN off), portable_onednn (the same but oneDNN on, capped at AVX2: what turning
oneDNN off costs), generic (ATen's generic kernels, MKL's SSE2 CNR branch, oneDNN off).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

VARIANTS = ("native", "portable", "portable_onednn", "generic")
# The last (longest) curriculum stage of each default recipe, and its batch size in tokens.
LENGTH = {"recurrent_gemma": 256, "jamba": 256}


def child(variant: str, arch: str, warmup: int, steps: int, seed: int) -> dict:
    """Runs in a fresh process: numerics first, then torch."""
    from hybrid_retrieval.infra.numerics import DISPATCH_VARIABLES, PORTABLE_ENV, apply_numerics

    if variant == "portable":
        apply_numerics("portable")
    elif variant == "portable_onednn":
        os.environ.update(PORTABLE_ENV)  # the same variables, but oneDNN stays on
    elif variant == "generic":
        os.environ.update({**PORTABLE_ENV, "ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE,STRICT"})
        os.environ.pop("MKL_ENABLE_INSTRUCTIONS")
    import torch

    if variant == "generic":
        torch.backends.mkldnn.enabled = False
    from hybrid_retrieval.models.toy import ToyCorpus, build_model, deterministic_torch, make_config, train
    from hybrid_retrieval.tasks.synthetic import SyntheticLanguage
    from hybrid_retrieval.tasks.tokenizer import build_word_tokenizer

    language = SyntheticLanguage(seed)
    tokenizer = build_word_tokenizer(language.vocabulary())
    curriculum = [[LENGTH[arch], 1.0]]
    with deterministic_torch(seed, 1):
        config = make_config(arch, steps=warmup, warmup_steps=1, curriculum=curriculum)
        model = build_model(arch, config, tokenizer)
        train(model, ToyCorpus(language, tokenizer, config), config, seed)  # warm-up
        config = make_config(arch, steps=steps, warmup_steps=1, curriculum=curriculum)
        corpus = ToyCorpus(language, tokenizer, config)
        cpu, wall = time.process_time(), time.perf_counter()
        train(model, corpus, config, seed + 1)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "variant": variant,
        "arch": arch,
        "capability": torch.backends.cpu.get_cpu_capability(),
        "onednn": torch.backends.mkldnn.enabled,
        "cpu_s_per_step": cpu / steps,
        "wall_s_per_step": wall / steps,
        "environment": {k: os.environ.get(k) for k in DISPATCH_VARIABLES if os.environ.get(k)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", nargs="+", default=["recurrent_gemma", "jamba"], choices=sorted(LENGTH))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "ARCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args.warmup, args.steps, args.seed)))
        return
    # The caller's dispatch variables would leak into "native": start every child without them.
    from hybrid_retrieval.infra.numerics import DISPATCH_VARIABLES

    env = {k: v for k, v in os.environ.items() if k not in DISPATCH_VARIABLES}
    results: dict[tuple[str, str], list[dict]] = {}
    for arch in args.arch:
        for r in range(args.rounds):
            order = args.variants[r % len(args.variants) :] + args.variants[: r % len(args.variants)]
            for variant in order:
                cmd = [sys.executable, __file__, "--child", variant, arch, "--warmup", str(args.warmup)]
                cmd += ["--steps", str(args.steps), "--seed", str(args.seed)]
                out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
                row = json.loads(out.strip().splitlines()[-1])
                results.setdefault((arch, variant), []).append(row)
                print(f"  {arch} round {r + 1} {variant}: {row['cpu_s_per_step']:.3f} CPU s/step", flush=True)
    print(f"\n{args.rounds} rounds x {args.steps} steps (after {args.warmup} warm-up), one thread, median:")
    print(f"{'arch':16} {'variant':16} {'ATen':8} {'oneDNN':7} {'CPU s/step':>10} {'x native':>9}")
    for arch in args.arch:
        base = statistics.median(
            r["cpu_s_per_step"] for r in results.get((arch, "native"), [{"cpu_s_per_step": 0}])
        )
        for variant in args.variants:
            rows = results[(arch, variant)]
            median = statistics.median(r["cpu_s_per_step"] for r in rows)
            ratio = f"{median / base:.2f}" if base else "n/a"
            print(
                f"{arch:16} {variant:16} {rows[0]['capability']:8} {str(rows[0]['onednn']):7} {median:10.3f} {ratio:>9}"
            )


if __name__ == "__main__":
    main()
