"""Our GLUE scoring agrees with lm-evaluation-harness's `glue` tasks, run offline on a tiny snapshot.

lm-eval runs its own installed GLUE task files (each included by absolute path; only the dataset is
redirected to the tiny parquet snapshot of `tests/fixtures/glue_fixture.py`), with
`simple_evaluate(num_fewshot=2, limit=6)` and its default few-shot seed, plain and with
apply_chat_template + fewshot_as_multiturn, as the authors ran it. The model is a tiny random-weight Jamba;
the tokenizer word-level with " Neither", " positive" and " negative" split in two, so both the
single-token and the multi-token continuation paths are compared. Checked per document: the context string, the
continuations, every log-likelihood and the chosen answer; per task: lm-eval's metric (acc, mcc, f1).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from transformers import JambaConfig, JambaForCausalLM, PreTrainedTokenizerFast

from hybrid_retrieval.interventions import InterventionSpec
from hybrid_retrieval.jobs.multiple_choice import encode_pair, score_choices
from hybrid_retrieval.models.loading import LoadedModel
from hybrid_retrieval.models.registry import get_adapter
from hybrid_retrieval.tasks.glue import GLUE_TASKS, format_prompt, load_glue_task, metric_value, select_shots
from hybrid_retrieval.tasks.tokenizer import build_word_tokenizer, split_words

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import glue_fixture as fx  # noqa: E402

from hybrid_retrieval.jobs.glue_eval import score_glue  # noqa: E402

lm_eval = pytest.importorskip("lm_eval")  # a test dependency (pyproject [test]); absent only in minimal envs

TASKS = ("cola", "mnli", "mrpc", "sst2")
NUM_SHOTS = 2
LIMIT = 6
# task -> the installed yaml that defines it
TASK_FILES = {"cola": "cola/default.yaml", "mnli": "mnli/default.yaml", "mrpc": "mrpc/default.yaml",
              "sst2": "sst2/default.yaml"}  # fmt: skip


# Choices split into two word pieces by the tokenizer's normalizer: " Neither", " positive", " negative" are
# two tokens (the multi-token path), " no", " yes", " True", " False" one (the single-token path).
SPLIT = {"Neither": "Nei ther", "positive": "posi tive", "negative": "nega tive"}


def split_word_tokenizer(texts: list[str]) -> PreTrainedTokenizerFast:
    """The toys' word-level tokenizer (prepends [BOS], chat template) with SPLIT applied before splitting."""
    from tokenizers import normalizers

    def split(text: str) -> str:
        for word, pieces in SPLIT.items():
            text = text.replace(word, pieces)
        return text

    tokenizer = build_word_tokenizer(w for t in texts for w in split_words(split(t)))
    tokenizer.backend_tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Replace(word, pieces) for word, pieces in SPLIT.items()]
    )
    return tokenizer


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = fx.write_glue_snapshot(tmp_path_factory.mktemp("glue"), configs=("cola", "mnli", "mrpc", "sst2"))
    data = {t: load_glue_task(root, t) for t in TASKS}
    texts = [
        d.task.text(doc) + " " + " ".join(d.task.choices) for d in data.values() for doc in d.docs + d.train
    ]
    tokenizer = split_word_tokenizer(texts)
    torch.manual_seed(1)  # a seed whose answers vary between documents (most pick one answer everywhere)
    config = JambaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        attn_layer_period=2, attn_layer_offset=1, num_attention_heads=4, num_key_value_heads=2,
        num_experts=1, expert_layer_period=1, expert_layer_offset=0, mamba_d_state=4, mamba_expand=1,
        mamba_dt_rank=4, initializer_range=0.3, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    model = JambaForCausalLM(config).eval()
    loaded = LoadedModel(
        model=model, tokenizer=tokenizer, adapter=get_adapter(model), name="tiny", revision="t"
    )
    folder = tmp_path_factory.mktemp("lm_eval_glue_tasks")
    installed = Path(lm_eval.__file__).parent / "tasks" / "glue"
    for task in TASKS:
        spec = GLUE_TASKS[task]
        files = {
            s: str(root / spec.config / f"{s}-00000-of-00001.parquet") for s in ("train", spec.eval_split)
        }
        config_text = (
            f"include: {installed / TASK_FILES[task]}\ntask: hr_{task}\ntag: hr_glue\n"
            f"dataset_path: parquet\ndataset_name: null\ndataset_kwargs:\n  data_files: {files!r}\n"
        )
        (folder / f"hr_{task}.yaml").write_text(config_text)
    return loaded, data, folder


def run_lm_eval(loaded, folder: Path, chat_template: bool, monkeypatch) -> dict:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    lm = HFLM(pretrained=loaded.model, tokenizer=loaded.tokenizer, batch_size=4, device="cpu")
    return lm_eval.simple_evaluate(
        model=lm,
        tasks=[f"hr_{t}" for t in TASKS],
        num_fewshot=NUM_SHOTS,
        limit=LIMIT,
        task_manager=TaskManager(include_path=str(folder)),
        log_samples=True,
        apply_chat_template=chat_template,
        fewshot_as_multiturn=chat_template,
        bootstrap_iters=0,  # no stderr: lm-eval's 100,000 sklearn bootstraps of mcc/f1 take minutes
    )  # the seeds are lm-eval's defaults (few-shot: 1234), as in the authors' call


def test_some_choices_are_several_tokens(setup) -> None:
    loaded, _, _ = setup
    lengths = {
        c: len(encode_pair(loaded.tokenizer, "Answer:", c)[1]) for c in (" Neither", " positive", " no")
    }
    assert lengths == {" Neither": 2, " positive": 2, " no": 1}


@pytest.mark.slow
@pytest.mark.parametrize("chat_template", [False, True], ids=["plain", "chat"])
def test_prompts_scores_choices_and_metrics_equal_lm_eval(setup, chat_template, monkeypatch) -> None:
    loaded, data, folder = setup
    results = run_lm_eval(loaded, folder, chat_template, monkeypatch)
    predictions = {}
    for task in TASKS:
        ours = score_glue(
            loaded, data[task], spec=InterventionSpec(kind="none"), num_shots=NUM_SHOTS,
            chat_template=chat_template, batch_size=3, max_docs=LIMIT,
        ).to_dicts()  # fmt: skip
        shots = select_shots(data[task].docs[:LIMIT], data[task].train, NUM_SHOTS, seed=1234)
        samples = sorted(results["samples"][f"hr_{task}"], key=lambda s: s["doc_id"])
        assert [s["doc_id"] for s in samples] == list(range(LIMIT))
        for sample, row, ids in zip(samples, ours, shots, strict=True):
            doc = data[task].docs[sample["doc_id"]]
            context = format_prompt(
                data[task].task, doc, [data[task].train[i] for i in ids], chat_template=chat_template,
                tokenizer=loaded.tokenizer,
            )  # fmt: skip
            prefix = "" if chat_template else " "
            assert [tuple(a) for a in sample["arguments"]] == [
                (context, prefix + c) for c in GLUE_TASKS[task].choices
            ]
            theirs = [resp[0][0] for resp in sample["resps"]]  # per choice: (loglikelihood, is_greedy)
            assert row["logprobs"] == pytest.approx(theirs, abs=1e-4), (task, sample["doc_id"])
            assert row["prediction"] == max(range(len(theirs)), key=lambda i: theirs[i])
            assert row["label"] == sample["target"]
            predictions.setdefault(task, set()).add(row["prediction"])
        labels = [r["label"] for r in ours]
        preds = [r["prediction"] for r in ours]
        for metric in GLUE_TASKS[task].metrics:
            assert metric_value(metric, labels, preds) == pytest.approx(
                results["results"][f"hr_{task}"][f"{metric},none"]
            ), (task, metric)
    # Tiny random models mostly pick one answer per task; the seed makes the choice vary, so a wrong
    # argmax or a shifted score would show.
    if chat_template:
        assert len(set().union(*predictions.values())) == 3, predictions
    else:
        assert sum(len(p) > 1 for p in predictions.values()) >= 2, predictions


def test_batched_multi_token_scores_equal_one_at_a_time(setup) -> None:
    loaded, data, _ = setup
    task = data["mnli"]
    prompts = [(format_prompt(task.task, doc, []), (" True", " Neither", " False")) for doc in task.docs]
    for spec in (InterventionSpec(kind="none"), InterventionSpec(kind="entropy_topk", k=1, phase="all")):
        batched = score_choices(loaded, prompts, spec=spec, batch_size=7)
        single = score_choices(loaded, prompts, spec=spec, batch_size=1)
        assert [x for row in batched for x in row] == pytest.approx(
            [x for row in single for x in row], abs=1e-5
        )
    full = score_choices(loaded, prompts, spec=InterventionSpec(kind="none"), batch_size=4)
    sparse = score_choices(
        loaded, prompts, spec=InterventionSpec(kind="entropy_topk", k=1, phase="all"), batch_size=4
    )
    assert (
        max(abs(a - b) for x, y in zip(full, sparse, strict=True) for a, b in zip(x, y, strict=True)) > 1e-4
    )
