"""The whole DAG on config/smoke.yaml (both toy architectures, every experiment, the report): it
completes in its own run folder (runs/smoke/), every declared result exists with rows, and rerunning
with nothing changed does nothing."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from conftest import dry_run
from hybrid_retrieval.claims import CLAIM_IDS

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

MODELS = ("toy-recurrent-gemma", "toy-jamba")
EXPERIMENTS = ("baseline", "attention_ablated", "jrt", "exposure", "controls", "sparsity_sweep")


def test_every_result_exists(smoke_outputs: Path, smoke_run: Path) -> None:
    for model in MODELS:
        assert (smoke_outputs / f"resources/models/{model}/model.safetensors").is_file()
        for experiment in EXPERIMENTS:
            rows = pl.read_parquet(smoke_outputs / f"results/{model}/retrieval/{experiment}.parquet")
            assert rows.height > 0 and set(rows["experiment"]) == {experiment}
            assert set(rows["model"]) == {model}
        assert pl.read_parquet(smoke_outputs / f"results/{model}/heads/scores.parquet").height > 0
        assert pl.read_parquet(smoke_outputs / f"results/{model}/recordings/heads.parquet").height > 0
        for k in ("H", "0"):
            assert pl.read_parquet(smoke_outputs / f"results/{model}/mmlu/top-{k}-heads.parquet").height > 0
    claims = pl.read_csv(smoke_outputs / "results/claims.csv")
    assert set(claims["model"]) == set(MODELS) and claims.height == len(CLAIM_IDS) * len(MODELS)
    assert (smoke_outputs / "results/report/index.html").stat().st_size > 10_000
    assert any((smoke_outputs / "results/figures").glob("*.svg"))
    assert (smoke_outputs / "paper/generated/macros.tex").is_file()
    # The named run kept the copy's own (default run's) folders untouched: nothing was written there.
    assert not any(
        (smoke_run / part).exists() for part in ("results", "resources", "logs", "paper/generated")
    )


def test_every_job_wrote_its_log_and_benchmark(smoke_outputs: Path) -> None:
    benchmarks = list((smoke_outputs / "logs").rglob("*.benchmark.tsv"))
    logs = list((smoke_outputs / "logs").rglob("*.log"))
    assert len(benchmarks) == len(logs) >= 20
    assert "Traceback" not in "".join(p.read_text() for p in logs)


def test_jrt_holds_both_prompts_per_condition(smoke_outputs: Path) -> None:
    rows = pl.read_parquet(smoke_outputs / "results/toy-jamba/retrieval/jrt.parquet")
    per_k = rows.group_by("k").agg(pl.col("prompt_variant").unique().sort())
    assert all(v.to_list() == ["base", "jrt"] for v in per_k["prompt_variant"])


def test_rerun_with_nothing_changed_does_nothing(smoke_run: Path) -> None:
    assert dry_run(smoke_run, "--configfile", "config/smoke.yaml") == {}
