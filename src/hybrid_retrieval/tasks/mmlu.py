"""MMLU-style multiple-choice questions: loading (CSV directory, parquet, hub dataset) and prompt format.

The prompt text is lm-evaluation-harness's MMLU task exactly (`tasks/mmlu/default/_default_template_yaml`):
a description line naming the subject, then `num_shots` solved examples from the subject's dev split
(the first N, lm-eval's `first_n` sampler), then the target question ending in "Answer:". The plain
format is scored on the continuations " A".." D"; the chat format (multi-turn few-shot, as the paper ran
Jamba) on "A".."D", because lm-eval drops the target delimiter after a chat template's assistant header.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hybrid_retrieval.errors import ConfigError, DataError

LETTERS: tuple[str, str, str, str] = ("A", "B", "C", "D")
SPLITS: tuple[str, ...] = ("dev", "val", "test")

# split -> subject -> questions, in file order
MCDataset = dict[str, dict[str, list["MCQuestion"]]]


@dataclass(frozen=True)
class MCQuestion:
    subject: str
    question: str
    choices: tuple[str, str, str, str]
    answer: str  # "A".."D"

    def __post_init__(self) -> None:
        if len(self.choices) != 4:
            raise DataError(f"a question needs 4 choices, got {len(self.choices)}: {self.question[:60]!r}")
        if self.answer not in LETTERS:
            raise DataError(f"answer must be one of A, B, C, D, got {self.answer!r}: {self.question[:60]!r}")


# ---------------------------------------------------------------------------------------------- loading


def _answer_letter(value: object, where: str) -> str:
    """Accept "A".."D" (any case, padded) or an index 0..3, as the CSV, parquet and hub exports use."""
    if isinstance(value, bool):
        raise DataError(f"{where}: answer {value!r} is not a letter A-D or an index 0-3")
    if isinstance(value, int):
        if 0 <= value < 4:
            return LETTERS[value]
        raise DataError(f"{where}: answer index {value} is outside 0-3; use 0-3 or a letter A-D")
    letter = str(value).strip().upper()
    if letter not in LETTERS:
        raise DataError(f"{where}: answer {value!r} is not one of A, B, C, D; fix the row or drop it")
    return letter


def read_mmlu_csv(path: str | os.PathLike[str], subject: str) -> list[MCQuestion]:
    """One MMLU CSV file (no header; question, A, B, C, D, answer letter)."""
    path = Path(path)
    questions = []
    with path.open(newline="", encoding="utf-8") as f:
        for row_number, row in enumerate(csv.reader(f), start=1):
            where = f"{path} row {row_number}"
            if len(row) != 6:
                raise DataError(
                    f"{where}: expected 6 columns (question, A, B, C, D, answer), got {len(row)}; "
                    "quote fields that contain commas"
                )
            question, a, b, c, d, answer = row
            if not question.strip():
                raise DataError(f"{where}: the question is empty")
            questions.append(MCQuestion(subject, question, (a, b, c, d), _answer_letter(answer, where)))
    if not questions:
        raise DataError(f"{path} holds no questions; remove the file or fill it")
    return questions


def load_mmlu_csv_dir(root: str | os.PathLike[str]) -> MCDataset:
    """MMLU's original layout: `{dev,val,test}/<subject>_<split>.csv`; subjects sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"MMLU directory {root} does not exist; unpack data.tar (dev/, val/, test/) there")
    data: MCDataset = {}
    for split in SPLITS:
        split_dir = root / split
        if not split_dir.is_dir():
            continue
        suffix = f"_{split}.csv"
        files = sorted(p for p in split_dir.iterdir() if p.name.endswith(suffix))
        stray = sorted(p.name for p in split_dir.glob("*.csv") if not p.name.endswith(suffix))
        if stray:
            raise DataError(f"{split_dir}: files {stray} do not match <subject>{suffix}; rename them")
        data[split] = {
            p.name.removesuffix(suffix): read_mmlu_csv(p, p.name.removesuffix(suffix)) for p in files
        }
    if "test" not in data:
        raise DataError(f"{root} has no test/ folder with <subject>_test.csv files (MMLU's original layout)")
    return data


def _group(records: Sequence[Mapping[str, object]], source: str) -> MCDataset:
    data: MCDataset = {}
    for i, rec in enumerate(records):
        where = f"{source} row {i}"
        choices = tuple(str(c) for c in rec["choices"])  # type: ignore[union-attr]
        if len(choices) != 4:
            raise DataError(f"{where}: expected 4 choices, got {len(choices)}")
        question = str(rec["question"])
        if not question.strip():
            raise DataError(f"{where}: the question is empty")
        subject, split = str(rec["subject"]), str(rec["split"])
        answer = rec["answer"]
        if isinstance(answer, str) and answer.strip().isdigit():
            answer = int(answer)  # exports that store the index as text
        q = MCQuestion(subject, question, choices, _answer_letter(answer, where))  # type: ignore[arg-type]
        data.setdefault(split, {}).setdefault(subject, []).append(q)
    return {split: dict(sorted(subjects.items())) for split, subjects in data.items()}


def load_mmlu_parquet(path: str | os.PathLike[str]) -> MCDataset:
    """A parquet export with columns question, choices (list of 4), answer (0-3 or A-D), subject, split."""
    import polars as pl

    path = Path(path)
    if not path.is_file():
        raise DataError(f"MMLU parquet file {path} does not exist")
    df = pl.read_parquet(path)
    missing = {"question", "choices", "answer", "subject", "split"} - set(df.columns)
    if missing:
        raise DataError(
            f"{path} lacks columns {sorted(missing)}; expected question, choices, answer, subject, split"
        )
    return _group(df.to_dicts(), str(path))


def load_mmlu_hub(dataset: str = "cais/mmlu", config: str = "all") -> MCDataset:
    """The hub dataset (columns question, subject, choices, answer index), from the local datasets cache only."""
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    try:
        import datasets
    except ImportError as e:
        raise DataError("the `datasets` package is not installed; use an MMLU CSV directory instead") from e
    try:
        loaded = datasets.load_dataset(dataset, config)
    except Exception as e:  # datasets raises several unrelated types for "not cached"
        raise DataError(
            f"hub dataset {dataset!r} (config {config!r}) is not in the local cache ({e}); download MMLU's "
            "data.tar and point the config at its CSV directory, or cache the dataset while online"
        ) from e
    records = []
    for split_name, split in loaded.items():
        split_key = "val" if split_name == "validation" else split_name
        records += [{**row, "split": split_key} for row in split if split_key in SPLITS]
    return _group(records, dataset)


# Configs of the hub repo cais/mmlu that are not one subject ("all" repeats every subject).
HUB_NON_SUBJECT_CONFIGS = ("all", "auxiliary_train")


def is_hub_parquet_dir(root: str | os.PathLike[str]) -> bool:
    """A hub dataset snapshot: `<config>/<split>-*.parquet` (cais/mmlu: one config per subject)."""
    root = Path(root)
    return root.is_dir() and any(root.glob("*/test-*.parquet"))


def load_mmlu_hub_dir(root: str | os.PathLike[str]) -> MCDataset:
    """cais/mmlu as `snapshot_download` returns it: `<subject>/{dev,validation,test}-*.parquet` with
    columns question, subject, choices, answer (index). Subjects sorted, rows in file order."""
    import polars as pl

    root = Path(root)
    records: list[dict[str, object]] = []
    subjects = sorted(
        d for d in root.iterdir() if d.is_dir() and d.name not in HUB_NON_SUBJECT_CONFIGS and not d.name.startswith(".")
    )
    for subject_dir in subjects:
        for split_file in sorted(subject_dir.glob("*.parquet")):
            split_name = split_file.name.split("-", 1)[0]
            split = "val" if split_name == "validation" else split_name
            if split not in SPLITS:
                continue
            df = pl.read_parquet(split_file)
            missing = {"question", "choices", "answer"} - set(df.columns)
            if missing:
                raise DataError(f"{split_file} lacks columns {sorted(missing)}; expected cais/mmlu's layout")
            subject = subject_dir.name
            records += [{"subject": subject, **row, "split": split} for row in df.to_dicts()]
    if not records:
        raise DataError(f"{root} holds no <subject>/<split>-*.parquet files (cais/mmlu's hub layout)")
    data = _group(records, str(root))
    if "test" not in data:
        raise DataError(f"{root} has no test split (<subject>/test-*.parquet)")
    return data


def load_mmlu_snapshot(record: str | os.PathLike[str]) -> MCDataset:
    """The dataset of a `snapshot.json` written by the workflow's download_dataset rule (HF cache)."""
    from hybrid_retrieval.infra.hub import read_snapshot_record

    return load_mmlu_hub_dir(read_snapshot_record(record)["path"])


def dataset_label(source: str | os.PathLike[str]) -> str:
    """"<repo_id>@<commit>" for a snapshot record (what the results name), else "mmlu"."""
    text = str(source)
    if text.endswith(".json") and Path(text).is_file():
        from hybrid_retrieval.infra.hub import read_snapshot_record

        record = read_snapshot_record(text)
        return f"{record['repo_id']}@{record['commit']}"
    return "mmlu"


def load_mc_dataset(source: str | os.PathLike[str]) -> MCDataset:
    """Dispatch on the source: a `snapshot.json` record (the workflow's hub download), a `.parquet` file,
    a hub-layout parquet directory, a CSV directory, or `hub:<dataset>[:<config>]`."""
    text = str(source)
    if text.startswith("hub:"):
        name, _, config = text.removeprefix("hub:").partition(":")
        return load_mmlu_hub(name, config or "all")
    if text.endswith(".json"):
        return load_mmlu_snapshot(source)
    if text.endswith(".parquet"):
        return load_mmlu_parquet(source)
    if is_hub_parquet_dir(source):
        return load_mmlu_hub_dir(source)
    return load_mmlu_csv_dir(source)


# ---------------------------------------------------------------------------------------------- prompts


def description(subject: str) -> str:
    return (
        f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}.\n\n"
    )


def question_text(q: MCQuestion) -> str:
    """lm-eval's doc_to_text: the question (stripped), the lettered choices, "Answer:"."""
    lines = [q.question.strip()] + [
        f"{letter}. {choice}" for letter, choice in zip(LETTERS, q.choices, strict=True)
    ]
    return "\n".join(lines) + "\nAnswer:"


def answer_continuations(chat_template: bool) -> tuple[str, str, str, str]:
    """What is scored after the prompt: lm-eval's target delimiter " " is dropped under a chat template."""
    return LETTERS if chat_template else (" A", " B", " C", " D")


def select_shots(dev: Mapping[str, Sequence[MCQuestion]], subject: str, num_shots: int) -> list[MCQuestion]:
    """The first `num_shots` dev questions of the same subject (lm-eval's first_n sampler)."""
    if num_shots < 0:
        raise ConfigError(f"num_shots must be >= 0, got {num_shots}")
    if num_shots == 0:
        return []
    pool = list(dev.get(subject, []))
    if len(pool) < num_shots:
        raise DataError(
            f"subject {subject!r} has {len(pool)} dev questions but num_shots is {num_shots}; "
            "lower num_shots or add dev questions"
        )
    return pool[:num_shots]


def format_prompt(
    question: MCQuestion,
    shots: Sequence[MCQuestion],
    *,
    subject: str,
    chat_template: bool = False,
    tokenizer=None,
) -> str:
    """The prompt for one question; the answer continuation (`answer_continuations`) follows it."""
    if not chat_template:
        solved = "".join(f"{question_text(s)} {s.answer}\n\n" for s in shots)
        return description(subject) + solved + question_text(question)
    if tokenizer is None or getattr(tokenizer, "chat_template", None) is None:
        raise ConfigError(
            "chat_template=True needs a tokenizer with a chat template; set chat_template: false"
        )
    # As lm-eval with apply_chat_template + fewshot_as_multiturn: the description is the system turn,
    # each shot a user turn and an assistant turn holding the letter.
    turns = [{"role": "system", "content": description(subject)}]
    for s in shots:
        turns += [{"role": "user", "content": question_text(s)}, {"role": "assistant", "content": s.answer}]
    turns.append({"role": "user", "content": question_text(question)})
    import jinja2

    try:
        return tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
    except jinja2.exceptions.TemplateError:
        # Templates without a system role (Gemma) raise; lm-eval then drops the system turn, so do we.
        return tokenizer.apply_chat_template(turns[1:], tokenize=False, add_generation_prompt=True)


# ------------------------------------------------------------------------------------ lm-eval export

# lm-eval's MMLU doc_to_text (tasks/mmlu/default/_default_template_yaml); a test pins it to the installed copy.
LM_EVAL_DOC_TO_TEXT = "{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\nC. {{choices[2]}}\nD. {{choices[3]}}\nAnswer:"


def write_lm_eval_tasks(
    dev: Mapping[str, Sequence[MCQuestion]],
    test: Mapping[str, Sequence[MCQuestion]],
    folder: str | os.PathLike[str],
    *,
    prefix: str = "hr_mc",
) -> list[str]:
    """Write one lm-eval task per subject (MMLU's template over local JSON-lines files) into `folder`.

    Run them with `TaskManager(include_path=folder)` to cross-check our scores with lm-eval offline;
    returns the task names, `<prefix>_<subject>`, in subject order.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for subject in sorted(test):
        files = {}
        for split, data in (("dev", dev.get(subject, [])), ("test", test[subject])):
            path = folder / f"{prefix}_{subject}_{split}.jsonl"
            rows = [
                {"question": q.question, "choices": list(q.choices), "answer": LETTERS.index(q.answer)}
                for q in data
            ]
            path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
            files[split] = str(path)
        name = f"{prefix}_{subject}"
        config = {
            "task": name,
            "dataset_path": "json",
            "dataset_kwargs": {"data_files": files},
            "test_split": "test",
            "fewshot_split": "dev",
            "fewshot_config": {"sampler": "first_n"},
            "output_type": "multiple_choice",
            "description": description(subject),
            "doc_to_text": LM_EVAL_DOC_TO_TEXT,
            "doc_to_choice": list(LETTERS),
            "doc_to_target": "answer",
            "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
            "metadata": {"version": 1.0},
        }
        (folder / f"{name}.yaml").write_text(json.dumps(config, indent=1), encoding="utf-8")  # JSON is YAML
        names.append(name)
    return names
