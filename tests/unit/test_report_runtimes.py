"""The report's runtime table (audit D10): exactly the declared benchmark files of the run's jobs (never a
stale file beside them), the sum of job times and the elapsed time from the files' times; the workflow
declares the benchmark file of every job the report is built from."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import synthetic_results as fx  # noqa: E402

from hybrid_retrieval.analysis.aggregate import aggregate  # noqa: E402
from hybrid_retrieval.claims import evaluate_claims  # noqa: E402
from hybrid_retrieval.report.render import elapsed_seconds, read_benchmarks, render_report  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def _benchmark(path: Path, seconds: float, end: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"s\th:m:s\tmax_rss\n{seconds}\t0:00:00\t100.0\n")
    os.utime(path, (end, end))
    return path


@pytest.fixture
def logs(tmp_path: Path) -> tuple[list[Path], Path]:
    """Two jobs of this run (10 s ending at t=1000, 5 s ending at t=1008) and a stale file beside them."""
    logs = tmp_path / "logs"
    run = [
        _benchmark(logs / "train_toy_model" / "toy-jamba.benchmark.tsv", 10.0, 1000.0),
        _benchmark(logs / "score_mmlu" / "toy-jamba" / "top-H-heads.benchmark.tsv", 5.0, 1008.0),
    ]
    stale = _benchmark(logs / "run_baseline_retrieval" / "old-model.benchmark.tsv", 99.0, 10.0)
    return run, stale


def test_declared_files_only_with_elapsed_time(logs: tuple[list[Path], Path]) -> None:
    run, stale = logs
    bench = read_benchmarks(files=[str(p) for p in run])
    assert bench["job"].to_list() == ["score_mmlu/toy-jamba/top-H-heads", "train_toy_model/toy-jamba"]
    assert bench["seconds"].sum() == 15.0
    assert elapsed_seconds(bench) == 18.0  # first start 1000 - 10 = 990, last end 1008
    # the whole folder (the CLI outside the workflow) also reads the stale file: what the files avoid
    assert "run_baseline_retrieval/old-model" in read_benchmarks(stale.parents[1])["job"].to_list()
    assert elapsed_seconds(read_benchmarks(files=[])) is None


def test_report_runtime_table_from_declared_files(logs: tuple[list[Path], Path], tmp_path: Path) -> None:
    run, _ = logs
    fx.write_synthetic_results(tmp_path / "results", experiments=("baseline",), mmlu=False, heads=False)
    aggregate(tmp_path / "results", tmp_path / "tables")
    evaluate_claims(tmp_path / "tables", tmp_path / "claims.csv")
    common = {"tables_dir": tmp_path / "tables", "claims_csv": tmp_path / "claims.csv", "config": {}}
    html = render_report(
        **common, benchmarks_dir=None, benchmarks=run, out_html=tmp_path / "declared.html"
    ).read_text()
    table = html[html.index('id="runtimes-table"') : html.index('id="provenance"')]
    assert "old-model" not in table and "train_toy_model/toy-jamba" in table
    assert "Sum of the job times 15.0 s" in table and "job's end 18.0 s" in table

    folder = render_report(
        **common, benchmarks_dir=tmp_path / "logs", out_html=tmp_path / "folder.html"
    ).read_text()
    table = folder[folder.index('id="runtimes-table"') : folder.index('id="provenance"')]
    assert "old-model" in table and "files of earlier runs and other configs" in table


def test_workflow_declares_the_benchmark_of_every_job_before_the_report(tmp_path: Path) -> None:
    dry = subprocess.run(
        [sys.executable, "-m", "snakemake", "results/report/index.html", "-n", "--cores", "1"]
        + ["--directory", str(tmp_path), "--configfile", str(REPO / "config" / "smoke.yaml")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert dry.returncode == 0, dry.stderr[-2000:]
    stats = dict(re.findall(r"^(\w+)\s+(\d+)$", dry.stdout.split("Job stats:")[1].split("\n\n")[0], re.M))
    stats.pop("render_report"), stats.pop("total")
    block = dry.stdout.split("rule render_report:")[1]
    inputs = re.search(r"\n    input: (.*)", block).group(1).split(", ")
    declared = [p for p in inputs if p.endswith(".benchmark.tsv")]
    per_rule: dict[str, int] = {}
    for path in declared:
        rule = Path(path).parts[1]  # logs/<rule>/...
        per_rule[rule] = per_rule.get(rule, 0) + 1
    assert per_rule == {rule: int(count) for rule, count in stats.items()}
    assert per_rule["train_toy_model"] == 2 and per_rule["score_mmlu"] == 4
