"""Our multiple-choice scorer agrees with lm-evaluation-harness, run fully offline on local task files.

The lm-eval tasks (`write_lm_eval_tasks`) use MMLU's own template (doc_to_text pinned to the installed
`tasks/mmlu/default/_default_template_yaml`, choices "A".."D", first_n few-shot sampler from the dev
split, one task per subject with MMLU's description) over JSON-lines files written here; the model is a tiny random-weight Jamba passed to
`HFLM` as an object. Both the plain prompt and the chat template with multi-turn few-shot are checked.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from transformers import JambaConfig, JambaForCausalLM

from hybrid_retrieval.interventions import InterventionSpec
from hybrid_retrieval.jobs.multiple_choice import score_multiple_choice
from hybrid_retrieval.models.loading import LoadedModel
from hybrid_retrieval.models.registry import get_adapter
from hybrid_retrieval.tasks.mmlu import (
    LETTERS,
    LM_EVAL_DOC_TO_TEXT,
    MCQuestion,
    description,
    question_text,
    write_lm_eval_tasks,
)
from hybrid_retrieval.tasks.tokenizer import build_word_tokenizer, split_words

lm_eval = pytest.importorskip("lm_eval")  # a test dependency (pyproject [test]); absent only in minimal envs

WORDS = "red green blue cat dog fish tree rock sun moon one two three four five six".split()
SUBJECTS = ("toy_facts", "high_school_colors")
NUM_SHOTS = 2


def make_questions(subject: str, n: int, seed: int) -> list[MCQuestion]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        w = rng.sample(WORDS, 6 + rng.randrange(2))
        out.append(
            MCQuestion(subject, "what is " + " ".join(w[:-4]) + " ? ", tuple(w[-4:]), rng.choice(LETTERS))
        )
    return out


def test_exported_template_is_lm_evals_mmlu_template() -> None:
    import yaml

    installed = Path(lm_eval.__file__).parent / "tasks" / "mmlu" / "default" / "_default_template_yaml"
    template = yaml.safe_load(installed.read_text())
    assert template["doc_to_text"] == LM_EVAL_DOC_TO_TEXT
    assert template["doc_to_choice"] == list(LETTERS)
    assert template["fewshot_config"] == {"sampler": "first_n"} and template["fewshot_split"] == "dev"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    dev = {s: make_questions(s, NUM_SHOTS, 50 + i) for i, s in enumerate(SUBJECTS)}
    test = {s: make_questions(s, 5, i) for i, s in enumerate(SUBJECTS)}
    texts = [description(s) for s in SUBJECTS] + [
        question_text(q) + " A B C D" for qs in (*dev.values(), *test.values()) for q in qs
    ]
    tokenizer = build_word_tokenizer(w for t in texts for w in split_words(t))
    torch.manual_seed(0)
    config = JambaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        attn_layer_period=2, attn_layer_offset=1, num_attention_heads=4, num_key_value_heads=2,
        num_experts=1, expert_layer_period=1, expert_layer_offset=0, mamba_d_state=4, mamba_expand=1,
        mamba_dt_rank=4, initializer_range=0.3, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    model = JambaForCausalLM(config).eval()
    loaded = LoadedModel(
        model=model, tokenizer=tokenizer, adapter=get_adapter(model), name="tiny", revision="toy"
    )
    folder = tmp_path_factory.mktemp("lm_eval_tasks")
    tasks = dict(zip(sorted(SUBJECTS), write_lm_eval_tasks(dev, test, folder), strict=True))
    return loaded, dev, test, folder, tasks


def run_lm_eval(loaded, folder: Path, tasks: list[str], chat_template: bool, monkeypatch) -> dict:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    lm = HFLM(pretrained=loaded.model, tokenizer=loaded.tokenizer, batch_size=4, device="cpu")
    return lm_eval.simple_evaluate(
        model=lm,
        tasks=tasks,
        num_fewshot=NUM_SHOTS,
        task_manager=TaskManager(include_path=str(folder)),
        log_samples=True,
        apply_chat_template=chat_template,
        fewshot_as_multiturn=chat_template,
        random_seed=0,
        numpy_random_seed=0,
        torch_random_seed=0,
        fewshot_random_seed=0,
    )


@pytest.mark.slow
@pytest.mark.parametrize("chat_template", [False, True], ids=["plain", "chat"])
def test_choices_and_logprobs_equal_lm_eval(setup, chat_template, monkeypatch) -> None:
    loaded, dev, test, folder, tasks = setup
    results = run_lm_eval(loaded, folder, list(tasks.values()), chat_template, monkeypatch)
    questions = [q for s in SUBJECTS for q in test[s]]
    ours = score_multiple_choice(
        loaded, questions, dev, spec=InterventionSpec(kind="none"), num_shots=NUM_SHOTS,
        chat_template=chat_template, batch_size=3, out_path=None,
    )  # fmt: skip
    ours_by_id = {row["question_id"]: row for row in ours.to_dicts()}
    compared = 0
    for subject, task in tasks.items():
        for sample in results["samples"][task]:
            row = ours_by_id[f"{subject}-{sample['doc_id']:05d}"]
            theirs = [resp[0][0] for resp in sample["resps"]]  # per choice: (loglikelihood, is_greedy)
            mine = [row[f"logprob_{x}"] for x in "abcd"]
            assert mine == pytest.approx(theirs, abs=1e-4), (subject, sample["doc_id"])
            assert row["prediction"] == LETTERS[max(range(4), key=lambda i: theirs[i])]
            assert row["correct"] == bool(sample["acc"])
            compared += 1
    assert compared == len(questions)
    expected_cont = "A" if chat_template else " A"
    first = results["samples"][tasks[SUBJECTS[0]]][0]
    assert first["arguments"][0][1] == expected_cont
