"""Retrieval throughput on a toy model: is batched, intervened decoding fast enough?

Prints trials/s for
- `plain`: batched greedy decoding (`evaluate.generate_greedy`) with no intervention context at all,
- `intact`, `entropy-top-0`, `entropy-top-1`: the full `run_retrieval` path (intervention context,
  scoring, parquet writing) with kind none / entropy top-k at k = 0 and 1 (generation phase),
- `generate-1x1`: a one-trial-at-a-time `model.generate(do_sample=False)` loop (how the authors ran),
and the ratios: sparsified / plain (target >= 0.8) and intact batched / generate-1x1 (target >= 5).

    .venv/bin/python benchmarks/retrieval_throughput.py [--model-dir resources/models/toy-recurrent-gemma]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from hybrid_retrieval.evaluate import generate_greedy, length_batches, run_retrieval
from hybrid_retrieval.interventions import InterventionSpec
from hybrid_retrieval.models.loading import load_model
from hybrid_retrieval.tasks.haystack import SyntheticHaystack, SyntheticNeedles
from hybrid_retrieval.tasks.niah import build_trials


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-dir", default="resources/models/toy-recurrent-gemma")
    parser.add_argument("--lengths", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--depths", type=float, nargs="+", default=[0, 25, 50, 75, 100])
    parser.add_argument("--replicates", type=int, default=4, help="trials per (length, depth) cell")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=40)
    parser.add_argument("--frame-reserve", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    model_dir = Path(args.model_dir)
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
    batches = length_batches(trials, args.batch_size)
    print(
        f"model {loaded.name} ({loaded.model.config.model_type}, {loaded.model.num_parameters():,} parameters)"
    )
    print(
        f"{n} trials, lengths {args.lengths}, {len(batches)} batches (batch size {args.batch_size}), "
        f"max_new_tokens {args.max_new_tokens}, {args.threads} thread(s)"
    )

    # warm-up: first calls allocate and initialise kernels
    generate_greedy(loaded, torch.tensor([trials[0].input_ids]), 2)

    def plain() -> None:
        for batch in batches:
            generate_greedy(loaded, torch.tensor([t.input_ids for t in batch]), args.max_new_tokens)

    results: dict[str, float] = {"plain": _timed(plain)}
    conditions = {
        "intact": InterventionSpec(kind="none"),
        "entropy-top-0": InterventionSpec(kind="entropy_topk", k=0),
        "entropy-top-1": InterventionSpec(kind="entropy_topk", k=1),
    }
    exact: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in conditions.items():
            out = Path(tmp) / f"{name}.parquet"
            holder = {}

            def run(spec=spec, out=out, holder=holder) -> None:
                holder["rows"] = run_retrieval(
                    loaded,
                    trials,
                    spec,
                    experiment="benchmark",
                    max_new_tokens=args.max_new_tokens,
                    batch_size=args.batch_size,
                    out_path=out,
                    resume=False,
                )

            results[name] = _timed(run)
            exact[name] = float(holder["rows"]["exact"].mean())

    eos = loaded.tokenizer.eos_token_id

    def one_at_a_time() -> None:
        with torch.no_grad():
            for trial in trials:
                ids = torch.tensor([trial.input_ids])
                loaded.model.generate(
                    ids,
                    attention_mask=torch.ones_like(ids),
                    max_new_tokens=args.max_new_tokens,
                    do_sample=False,
                    eos_token_id=eos,
                    pad_token_id=loaded.tokenizer.pad_token_id,
                )

    results["generate-1x1"] = _timed(one_at_a_time)

    print(f"\n{'condition':<16}{'seconds':>9}{'trials/s':>10}{'vs plain':>10}{'exact':>8}")
    for name, seconds in results.items():
        ratio = results["plain"] / seconds
        rate = f"{exact[name]:.2f}" if name in exact else "-"
        print(f"{name:<16}{seconds:>9.2f}{n / seconds:>10.2f}{ratio:>10.2f}{rate:>8}")
    sparse = min(results["plain"] / results[k] for k in ("entropy-top-0", "entropy-top-1"))
    speedup = results["generate-1x1"] / results["intact"]
    print(f"\nsparsified / plain throughput (worst of k=0,1): {sparse:.2f}  (target >= 0.8)")
    print(f"batched intact vs one-at-a-time generate():     {speedup:.1f}x (target >= 5x)")


if __name__ == "__main__":
    main()
