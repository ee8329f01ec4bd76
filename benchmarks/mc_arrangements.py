"""What the toy MC set's 8 arrangements per test question cost: scoring all items vs one per question.

    .venv/bin/python benchmarks/mc_arrangements.py --model-dir resources/models/toy-recurrent-gemma \
        --model toy-recurrent-gemma [--config config/config.yaml] [--repeats 3]

Scores the toy's exported test set (`<model_dir>/mc`, 8 arrangements per question) and its first arrangements
only (the single item per question the set held before), 5-shot with all heads, as the `score_mmlu` rule does
(entropy top-H, prefill). Warm-up first, then `--repeats` rounds in alternating order; prints the medians and
their ratio from this one run. The process start (imports, model load: ~5 s per job) is not included.
"""

from __future__ import annotations

import argparse
import statistics
import time

from hybrid_retrieval.config.load import load_config_file
from hybrid_retrieval.jobs.experiments import _topk, load, resolve_k
from hybrid_retrieval.jobs.multiple_choice import question_key, score_multiple_choice
from hybrid_retrieval.tasks.mmlu import load_mc_dataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--model", required=True, help="the model's name in --config")
    ap.add_argument("--config", default="config/config.yaml")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    cfg = load_config_file(args.config)
    loaded = load(args.model_dir, cfg.model_params(args.model), threads=1)
    data = load_mc_dataset(f"{args.model_dir}/mc")
    items = [q for subject in sorted(data["test"]) for q in data["test"][subject]]
    first_of: dict[str, object] = {}
    for q in items:  # the first arrangement of each question: the item the set held before
        first_of.setdefault(question_key(q), q)
    first = list(first_of.values())
    spec = _topk(resolve_k("H", loaded), "all", "entropy")

    def run(questions) -> float:
        started = time.perf_counter()
        score_multiple_choice(
            loaded, questions, data["dev"], spec=spec, num_shots=5, chat_template=False, batch_size=16,
            out_path=None, dataset="toy-mc",
        )  # fmt: skip
        return time.perf_counter() - started

    sets = {"one per question": first, "all arrangements": items}
    for questions in sets.values():  # warm-up
        run(questions)
    times: dict[str, list[float]] = {name: [] for name in sets}
    for r in range(args.repeats):
        for name in list(sets)[:: 1 if r % 2 == 0 else -1]:
            times[name].append(run(sets[name]))
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, questions in sets.items():
        print(f"{name}: {len(questions)} items, median {medians[name]:.2f} s over {args.repeats} runs {times[name]}")
    ratio = medians["all arrangements"] / medians["one per question"]
    print(f"all arrangements / one per question: {ratio:.2f}x ({len(items) / len(first):.0f}x the items)")


if __name__ == "__main__":
    main()
