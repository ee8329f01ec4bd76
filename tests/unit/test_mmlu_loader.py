"""MMLU loading (original CSV layout, parquet export) and lm-eval's prompt format."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import pytest

from hybrid_retrieval.errors import ConfigError, DataError
from hybrid_retrieval.tasks.mmlu import (
    MCQuestion,
    answer_continuations,
    format_prompt,
    load_mc_dataset,
    load_mmlu_csv_dir,
    load_mmlu_parquet,
    select_shots,
)


def _write_csv(path: Path, rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)


@pytest.fixture
def mmlu_dir(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    _write_csv(
        root / "dev" / "college_biology_dev.csv",
        [
            ["What is a cell?", "a unit, of life", "a rock", "a star", "a song", "A"],
            ["Q2", "w", "x", "y", "z", "d"],
        ],
    )
    _write_csv(
        root / "dev" / "astronomy_dev.csv", [["What orbits Earth?", "Moon", "Sun", "Mars", "Venus", "A"]]
    )
    _write_csv(
        root / "test" / "college_biology_test.csv",
        [
            ["Which is an organelle?", "mitochondrion", "quasar", "comet", "river", "A"],
            ["Q?", "1", "2", "3", "4", "C"],
        ],
    )
    _write_csv(
        root / "test" / "astronomy_test.csv", [["Largest planet?", "Earth", "Jupiter", "Mars", "Pluto", "B"]]
    )
    _write_csv(
        root / "val" / "astronomy_val.csv", [["Hot planet?", "Venus", "Neptune", "Uranus", "Pluto", "A"]]
    )
    return root


def test_reads_original_layout(mmlu_dir: Path) -> None:
    data = load_mmlu_csv_dir(mmlu_dir)
    assert sorted(data) == ["dev", "test", "val"]
    assert list(data["test"]) == ["astronomy", "college_biology"]  # sorted by subject
    bio = data["dev"]["college_biology"]
    assert bio[0] == MCQuestion(
        "college_biology", "What is a cell?", ("a unit, of life", "a rock", "a star", "a song"), "A"
    )
    assert bio[1].answer == "D"  # lower-case letters are accepted
    assert [q.answer for q in data["test"]["college_biology"]] == ["A", "C"]
    assert data["val"]["astronomy"][0].question == "Hot planet?"
    assert load_mc_dataset(mmlu_dir) == data


def test_wrong_column_count_names_file_and_row(mmlu_dir: Path) -> None:
    bad = mmlu_dir / "test" / "astronomy_test.csv"
    _write_csv(bad, [["ok?", "a", "b", "c", "d", "A"], ["too few", "a", "b", "A"]])
    with pytest.raises(DataError, match=r"astronomy_test\.csv row 2: expected 6 columns"):
        load_mmlu_csv_dir(mmlu_dir)


def test_answer_outside_a_to_d_names_file_and_row(mmlu_dir: Path) -> None:
    bad = mmlu_dir / "test" / "astronomy_test.csv"
    _write_csv(
        bad,
        [
            ["ok?", "a", "b", "c", "d", "A"],
            ["x?", "a", "b", "c", "d", "A"],
            ["bad?", "a", "b", "c", "d", "E"],
        ],
    )
    with pytest.raises(DataError, match=r"astronomy_test\.csv row 3: answer 'E'"):
        load_mmlu_csv_dir(mmlu_dir)


def test_empty_question_is_an_error(mmlu_dir: Path) -> None:
    _write_csv(mmlu_dir / "dev" / "astronomy_dev.csv", [["  ", "a", "b", "c", "d", "B"]])
    with pytest.raises(DataError, match=r"astronomy_dev\.csv row 1: the question is empty"):
        load_mmlu_csv_dir(mmlu_dir)


def test_missing_dir_or_test_split_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_mmlu_csv_dir(tmp_path / "nope")
    _write_csv(tmp_path / "dev" / "a_dev.csv", [["q", "a", "b", "c", "d", "A"]])
    with pytest.raises(DataError, match="no test/ folder"):
        load_mmlu_csv_dir(tmp_path)


def test_parquet_export_with_index_or_letter_answers(tmp_path: Path) -> None:
    path = tmp_path / "mmlu.parquet"
    pl.DataFrame(
        {
            "question": ["q1", "q2", "q3"],
            "choices": [["a", "b", "c", "d"]] * 3,
            "answer": ["2", "B", "0"],  # letters or indices as text: one column type for both
            "subject": ["anatomy", "anatomy", "virology"],
            "split": ["test", "test", "dev"],
        }
    ).write_parquet(path)
    data = load_mmlu_parquet(path)
    assert [q.answer for q in data["test"]["anatomy"]] == ["C", "B"]
    assert data["dev"]["virology"][0].answer == "A"
    one = {
        "question": ["q"],
        "choices": [["a", "b", "c", "d"]],
        "answer": [3],
        "subject": ["s"],
        "split": ["test"],
    }
    pl.DataFrame(one).write_parquet(path)
    assert load_mmlu_parquet(path)["test"]["s"][0].answer == "D"
    pl.DataFrame({**one, "answer": [4]}).write_parquet(path)
    with pytest.raises(DataError, match="row 0: answer index 4 is outside 0-3"):
        load_mmlu_parquet(path)
    pl.DataFrame({**one, "choices": [["a", "b", "c"]]}).write_parquet(path)
    with pytest.raises(DataError, match="row 0: expected 4 choices"):
        load_mmlu_parquet(path)


def test_prompt_is_lm_eval_mmlu_format() -> None:
    shots = [
        MCQuestion("high_school_physics", "  What is g? ", ("9.8", "1", "0", "3"), "A"),
        MCQuestion("high_school_physics", "Unit of force?", ("N", "J", "W", "Pa"), "A"),
    ]
    target = MCQuestion("high_school_physics", "Unit of energy?", ("N", "J", "W", "Pa"), "B")
    expected = (
        "The following are multiple choice questions (with answers) about high school physics.\n\n"
        "What is g?\nA. 9.8\nB. 1\nC. 0\nD. 3\nAnswer: A\n\n"
        "Unit of force?\nA. N\nB. J\nC. W\nD. Pa\nAnswer: A\n\n"
        "Unit of energy?\nA. N\nB. J\nC. W\nD. Pa\nAnswer:"
    )
    assert format_prompt(target, shots, subject="high_school_physics") == expected
    assert answer_continuations(False) == (" A", " B", " C", " D")
    assert answer_continuations(True) == ("A", "B", "C", "D")


def test_chat_prompt_is_multi_turn_few_shot() -> None:
    class Recorder:
        chat_template = "{{ messages }}"

        def apply_chat_template(self, turns, tokenize, add_generation_prompt):
            self.turns, self.flags = turns, (tokenize, add_generation_prompt)
            return "rendered"

    tok = Recorder()
    shot = MCQuestion("virology", "Q1?", ("a", "b", "c", "d"), "C")
    target = MCQuestion("virology", "Q2?", ("a", "b", "c", "d"), "A")
    assert format_prompt(target, [shot], subject="virology", chat_template=True, tokenizer=tok) == "rendered"
    assert [t["role"] for t in tok.turns] == ["system", "user", "assistant", "user"]
    assert tok.turns[0]["content"].endswith("about virology.\n\n")
    assert tok.turns[1]["content"] == "Q1?\nA. a\nB. b\nC. c\nD. d\nAnswer:"
    assert tok.turns[2]["content"] == "C"
    assert tok.flags == (False, True)
    with pytest.raises(ConfigError, match="chat template"):
        format_prompt(target, [shot], subject="virology", chat_template=True, tokenizer=None)


def test_shots_are_the_first_n_dev_questions_of_the_subject() -> None:
    dev = {"a": [MCQuestion("a", f"q{i}", ("1", "2", "3", "4"), "A") for i in range(5)]}
    assert [q.question for q in select_shots(dev, "a", 3)] == ["q0", "q1", "q2"]
    assert select_shots(dev, "b", 0) == []
    with pytest.raises(DataError, match="has 0 dev questions but num_shots is 1"):
        select_shots(dev, "b", 1)
