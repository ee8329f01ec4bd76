"""`--write-prompts` (lm-eval's --log_samples): the exact prompt behind every row, beside the rows, keyed by the
rows' prompt_hash; the rows themselves are the same with or without it."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from transformers import AutoTokenizer

from hybrid_retrieval.cli import main
from hybrid_retrieval.jobs.evaluate import prompt_hash
from hybrid_retrieval.jobs.prompt_log import prompts_path
from hybrid_retrieval.tasks.niah import encode_prompt

REPO = Path(__file__).resolve().parents[2]
SMOKE = str(REPO / "config" / "smoke.yaml")

pytestmark = pytest.mark.slow


def test_write_prompts_gives_each_rows_exact_prompt(tmp_path: Path) -> None:
    toy = tmp_path / "toy-jamba"
    assert main(["train-toy", "--config", SMOKE, "--model", "toy-jamba", "--out", str(toy)]) == 0
    argv = [
        "retrieval",
        "--config",
        SMOKE,
        "--model",
        "toy-jamba",
        "--model-dir",
        str(toy),
        "--device",
        "cpu",
    ]
    argv += ["--experiment", "jrt"]  # standard and JRT prompts: two prompt variants
    assert main([*argv, "--out", str(tmp_path / "plain.parquet")]) == 0
    assert not prompts_path(tmp_path / "plain.parquet").exists()  # off by default
    assert main([*argv, "--out", str(tmp_path / "jrt.parquet"), "--write-prompts"]) == 0

    rows = pl.read_parquet(tmp_path / "jrt.parquet")
    assert rows.equals(pl.read_parquet(tmp_path / "plain.parquet"))
    records = [json.loads(line) for line in prompts_path(tmp_path / "jrt.parquet").read_text().splitlines()]
    by_hash = {r["prompt_hash"]: r for r in records}
    assert len(by_hash) == len(records) and set(by_hash) == set(rows["prompt_hash"])
    assert {r["prompt_variant"] for r in records} == set(rows["prompt_variant"]) and len(
        set(rows["prompt_variant"])
    ) == 2
    tokenizer = AutoTokenizer.from_pretrained(toy)
    for record in records:  # the text is the exact input: it encodes to the ids the model saw
        assert prompt_hash(record["input_ids"]) == record["prompt_hash"]
        assert encode_prompt(tokenizer, record["prompt"]) == record["input_ids"]
