"""Multiple-choice throughput: our scorer batched vs one question at a time vs lm-eval, same model and questions.

    .venv/bin/python benchmarks/mmlu_throughput.py [--model-dir resources/models/toy-jamba] [--questions 64]

Uses the toy model and its MC set (`<model_dir>/mc`, MMLU layout) when the directory exists, otherwise a
tiny random-weight Jamba over generated questions. Prints questions/s and ratios; also checks that the
three runs chose the same letters. Warm-up first, >= 3 repetitions in rotated order, medians and ratios
from this one run.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch


def random_setup(n: int, shots: int):
    from transformers import JambaConfig, JambaForCausalLM

    from hybrid_retrieval.models.loading import LoadedModel
    from hybrid_retrieval.models.registry import get_adapter
    from hybrid_retrieval.tasks.mmlu import MCQuestion, description, question_text
    from hybrid_retrieval.tasks.tokenizer import build_word_tokenizer, split_words

    words = [f"w{i}" for i in range(40)]
    rng = random.Random(0)

    def make(subject: str, count: int) -> list[MCQuestion]:
        out = []
        for _ in range(count):
            w = rng.sample(words, 6 + rng.randrange(3))
            out.append(MCQuestion(subject, " ".join(w[:-4]) + " ?", tuple(w[-4:]), rng.choice("ABCD")))
        return out

    subjects = ["toy_a", "toy_b"]
    dev = {s: make(s, shots) for s in subjects}
    test = {s: make(s, n // len(subjects)) for s in subjects}
    texts = (
        [description(s) for s in subjects]
        + [question_text(q) + " A B C D" for q in test["toy_a"][:1]]
        + words
    )
    tokenizer = build_word_tokenizer(w for t in texts for w in split_words(t))
    torch.manual_seed(0)
    config = JambaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=4,
        attn_layer_period=2, attn_layer_offset=1, num_attention_heads=8, num_key_value_heads=2,
        num_experts=1, expert_layer_period=1, expert_layer_offset=0, mamba_d_state=8, mamba_expand=1,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    model = JambaForCausalLM(config).eval()
    loaded = LoadedModel(
        model=model, tokenizer=tokenizer, adapter=get_adapter(model), name="tiny-jamba", revision="random"
    )
    return loaded, dev, test


def toy_setup(model_dir: Path, n: int):
    from hybrid_retrieval.models.loading import load_model
    from hybrid_retrieval.tasks.mmlu import load_mmlu_csv_dir

    loaded = load_model(model_dir)
    data = load_mmlu_csv_dir(model_dir / "mc")
    subjects = sorted(data["test"])
    per_subject = max(1, n // len(subjects))
    return loaded, data.get("dev", {}), {s: data["test"][s][:per_subject] for s in subjects}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=Path("resources/models/toy-jamba"))
    parser.add_argument("--questions", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--shots", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from hybrid_retrieval.interventions import InterventionSpec
    from hybrid_retrieval.jobs.multiple_choice import score_multiple_choice
    from hybrid_retrieval.tasks.mmlu import write_lm_eval_tasks

    if (args.model_dir / "config.json").exists():
        loaded, dev, test = toy_setup(args.model_dir, args.questions)
        source = str(args.model_dir)
    else:
        loaded, dev, test = random_setup(args.questions, args.shots)
        source = "tiny random Jamba (no toy model found)"
    questions = [q for s in sorted(test) for q in test[s]]
    spec = InterventionSpec(kind="none")
    if args.repetitions < 3:
        parser.error("--repetitions must be >= 3")
    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs; torch {torch.__version__}"
    )
    print(
        f"model: {source}; {len(questions)} questions, {args.shots} shots, {torch.get_num_threads()} threads, "
        f"{args.repetitions} repetitions, rotated order, one warm-up call each"
    )

    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    folder = tempfile.mkdtemp(prefix="mmlu-bench-")
    tasks = write_lm_eval_tasks(dev, test, folder)
    manager = TaskManager(include_path=folder)
    lm = HFLM(pretrained=loaded.model, tokenizer=loaded.tokenizer, batch_size=args.batch_size, device="cpu")
    found: dict[str, object] = {}

    def ours(batch_size: int, subset=questions):
        found[f"ours-{batch_size}"] = score_multiple_choice(
            loaded, subset, dev, spec=spec, num_shots=args.shots, chat_template=False,
            batch_size=batch_size, out_path=None,
        )  # fmt: skip

    def lm_eval_run(limit=None):
        results = lm_eval.simple_evaluate(
            model=lm, tasks=tasks, num_fewshot=args.shots, task_manager=manager, log_samples=True, limit=limit
        )
        found["lm-eval"] = {
            f"{task.removeprefix('hr_mc_')}-{s['doc_id']:05d}": "ABCD"[
                max(range(4), key=lambda i: s["resps"][i][0][0])
            ]
            for task in tasks
            for s in results["samples"][task]
        }

    variants = {
        f"ours batch {args.batch_size}": lambda **kw: ours(args.batch_size, **kw),
        "ours batch 1": lambda **kw: ours(1, **kw),
        "lm-eval": lambda **kw: lm_eval_run(**kw),
    }
    variants[f"ours batch {args.batch_size}"](subset=questions[:2])  # warm-up (allocations, lazy imports)
    variants["ours batch 1"](subset=questions[:2])
    variants["lm-eval"](limit=1)
    names = list(variants)
    times: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(args.repetitions):
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            start = time.perf_counter()
            variants[name]()
            times[name].append(time.perf_counter() - start)
    n = len(questions)
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"\n{'variant':<18}{'median s':>10}{'min s':>9}{'max s':>9}{'questions/s':>13}")
    for name in names:
        print(
            f"{name:<18}{medians[name]:>10.2f}{min(times[name]):>9.2f}{max(times[name]):>9.2f}{n / medians[name]:>13.1f}"
        )
    batched, single = found[f"ours-{args.batch_size}"], found["ours-1"]
    ours_name = f"ours batch {args.batch_size}"
    print(f"ours batched / lm-eval (HFLM batch {args.batch_size}, padded, task setup included): "
          f"{medians['lm-eval'] / medians[ours_name]:.2f}x (target >= 2x)")  # fmt: skip
    print(f"ours batched / ours one at a time: {medians['ours batch 1'] / medians[ours_name]:.2f}x")
    lengths = sorted({len(loaded.tokenizer(q.question).input_ids) for q in questions})
    print(f"distinct question lengths (tokens, without shots): {len(lengths)} of {n} questions")
    same = sum(found["lm-eval"][r["question_id"]] == r["prediction"] for r in batched.to_dicts())
    print(
        f"same letter as one-at-a-time: {(batched['prediction'] == single['prediction']).sum()}/{n}; as lm-eval: {same}/{n}"
    )


if __name__ == "__main__":
    main()
