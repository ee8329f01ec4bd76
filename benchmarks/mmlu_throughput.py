"""Multiple-choice throughput: our scorer batched vs one question at a time vs lm-eval, same model and questions.

    .venv/bin/python benchmarks/mmlu_throughput.py [--model-dir resources/models/toy-jamba] [--questions 64]

Uses the toy model and its MC set (`<model_dir>/mc`, MMLU layout) when the directory exists, otherwise a
tiny random-weight Jamba over generated questions. Prints questions/s and ratios; also checks that the
three runs chose the same letters.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

import torch


def random_setup(n: int, shots: int):
    from transformers import JambaConfig, JambaForCausalLM

    from hybrid_retrieval.models.loading import LoadedModel
    from hybrid_retrieval.models.registry import get_adapter
    from hybrid_retrieval.models.tokenizer import build_word_tokenizer, split_words
    from hybrid_retrieval.tasks.mmlu import MCQuestion, description, question_text

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
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from hybrid_retrieval.interventions import InterventionSpec
    from hybrid_retrieval.multiple_choice import score_multiple_choice
    from hybrid_retrieval.tasks.mmlu import write_lm_eval_tasks

    if (args.model_dir / "config.json").exists():
        loaded, dev, test = toy_setup(args.model_dir, args.questions)
        source = str(args.model_dir)
    else:
        loaded, dev, test = random_setup(args.questions, args.shots)
        source = "tiny random Jamba (no toy model found)"
    questions = [q for s in sorted(test) for q in test[s]]
    spec = InterventionSpec(kind="none")
    print(
        f"model: {source}; {len(questions)} questions, {args.shots} shots, {torch.get_num_threads()} threads"
    )

    def ours(batch_size: int):
        start = time.perf_counter()
        df = score_multiple_choice(
            loaded, questions, dev, spec=spec, num_shots=args.shots, chat_template=False,
            batch_size=batch_size, out_path=None,
        )  # fmt: skip
        return time.perf_counter() - start, df

    ours(args.batch_size)  # warm-up (first-call allocations, lazy imports)
    t_batched, batched = ours(args.batch_size)
    t_single, single = ours(1)

    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    with tempfile.TemporaryDirectory() as folder:
        tasks = write_lm_eval_tasks(dev, test, folder)
        lm = HFLM(
            pretrained=loaded.model, tokenizer=loaded.tokenizer, batch_size=args.batch_size, device="cpu"
        )
        manager = TaskManager(include_path=folder)
        start = time.perf_counter()
        results = lm_eval.simple_evaluate(
            model=lm, tasks=tasks, num_fewshot=args.shots, task_manager=manager, log_samples=True
        )
        t_lm_eval = time.perf_counter() - start
    lm_eval_letters = {
        f"{task.removeprefix('hr_mc_')}-{s['doc_id']:05d}": "ABCD"[
            max(range(4), key=lambda i: s["resps"][i][0][0])
        ]
        for task in tasks
        for s in results["samples"][task]
    }
    same = sum(lm_eval_letters[r["question_id"]] == r["prediction"] for r in batched.to_dicts())

    n = len(questions)
    print(f"ours, batch {args.batch_size:>3}: {n / t_batched:8.1f} questions/s ({t_batched:.2f} s)")
    print(f"ours, batch   1: {n / t_single:8.1f} questions/s ({t_single:.2f} s)")
    print(
        f"lm-eval (HFLM batch {args.batch_size}, 4 requests/question, incl. task setup): {n / t_lm_eval:8.1f} questions/s ({t_lm_eval:.2f} s)"
    )
    print(
        f"batched / one-at-a-time: {t_single / t_batched:.2f}x; batched / lm-eval: {t_lm_eval / t_batched:.2f}x"
    )
    print(
        f"same letter as one-at-a-time: {(batched['prediction'] == single['prediction']).sum()}/{n}; as lm-eval: {same}/{n}"
    )


if __name__ == "__main__":
    main()
