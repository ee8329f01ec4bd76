"""CLI `--device` and `--limit` (audit D15, like lm-eval's): a device this machine cannot use fails before
anything loads, naming the fix; `--limit N` runs only the first N trials (MMLU: questions per subject),
marks every row with `limit` and writes apart from the workflow's results."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest
import torch
import yaml

from hybrid_retrieval.cli import DEVICE_PATTERN, main
from hybrid_retrieval.config import Config

REPO = Path(__file__).resolve().parents[2]
SMOKE = str(REPO / "config" / "smoke.yaml")


def test_device_values_are_the_configs() -> None:
    data = yaml.safe_load(Path(SMOKE).read_text())
    for value in ("cpu", "auto", "mps", "cuda", "cuda:0", "cuda:12", "gpu", "cuda:", "CPU", "cuda:x", "tpu"):
        try:
            Config.model_validate({**data, "device": value})
            config_accepts = True
        except ValueError:
            config_accepts = False
        assert bool(re.fullmatch(DEVICE_PATTERN, value)) == config_accepts, value


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a usable CUDA device")
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_device_without_cuda_exits_2_naming_the_fix(
    device: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    absent = tmp_path / "no-model"  # fails at the device, before the model directory is looked at
    argv = ["retrieval", "--config", SMOKE, "--model", "toy-jamba", "--model-dir", str(absent)]
    assert main([*argv, "--experiment", "baseline", "--device", device]) == 2
    err = capsys.readouterr().err
    assert f"--device {device}" in err and "--device cpu" in err and "CUDA" in err
    assert "Traceback" not in err and str(absent) not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("flag", "value", "message"), [("--device", "gpu", "not a device"), ("--limit", "0", ">= 1")]
)
def test_bad_values_are_refused_by_the_parser(
    flag: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["mmlu", "--config", SMOKE, "--model", "toy-jamba", "--k", "H", flag, value])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """toy-jamba of the smoke config (8 training steps)."""
    out = tmp_path_factory.mktemp("toy") / "toy-jamba"
    assert main(["train-toy", "--config", SMOKE, "--model", "toy-jamba", "--out", str(out)]) == 0
    return str(out)


@pytest.mark.slow
def test_limit_runs_the_first_trials_marks_rows_and_writes_apart(
    toy_dir: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ["retrieval", "--config", SMOKE, "--model", "toy-jamba", "--model-dir", toy_dir]
    argv += ["--experiment", "attention_ablated", "--device", "cpu"]
    assert main([*argv, "--limit", "2"]) == 0
    # smoke.yaml has `run: smoke`: the CLI writes where that run's workflow does, under runs/smoke/
    assert not Path("runs/smoke/results/toy-jamba").exists()  # the workflow's place stays untouched
    assert not Path("results").exists()  # nor anything outside the run folder
    limited = pl.read_parquet("runs/smoke/results/limit-2/toy-jamba/retrieval/attention_ablated.parquet")
    assert main([*argv, "--out", "full.parquet"]) == 0
    full = pl.read_parquet("full.parquet")

    assert "limit" not in full.columns and limited["limit"].to_list() == [2] * limited.height
    per_condition = limited.group_by("condition").len()
    assert per_condition["len"].to_list() == [2, 2]  # attention_ablated: phases generation and all
    assert full.group_by("condition").len()["len"].to_list() == [4, 4]  # the smoke grid: 2 lengths x 2 depths
    # the grid's first two trials (sorted by length, depth): length 80 at depths 0 and 100, with the rows
    # an unlimited run gives them
    assert sorted(set(zip(limited["context_length"], limited["depth"], strict=True))) == [(80, 0), (80, 100)]
    sort = ["condition", "trial_id"]
    expected = full.filter(pl.col("trial_id").is_in(limited["trial_id"].implode())).sort(sort)
    assert limited.drop("limit").sort(sort).equals(expected)


@pytest.mark.slow
def test_limit_caps_mmlu_questions_per_subject(toy_dir: str, tmp_path: Path) -> None:
    out = tmp_path / "mc.parquet"
    argv = ["mmlu", "--config", SMOKE, "--model", "toy-jamba", "--model-dir", toy_dir, "--k", "H"]
    assert main([*argv, "--limit", "1", "--out", str(out)]) == 0
    rows = pl.read_parquet(out)
    subjects = rows["subject"].n_unique()
    assert subjects > 1 and rows.height == subjects  # smoke: up to 2 per subject; the limit: 1
    assert rows["limit"].to_list() == [1] * rows.height
