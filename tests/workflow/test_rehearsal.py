"""The dress rehearsal of the real-model path, offline: stand-ins under the real names on a local hub
(olah), config/rehearsal.yaml (= config/paper.yaml with the grid and ks scaled down), every job through
`--profile profiles/slurm` on a one-node SLURM cluster started here (stopped by PID, also on failure).

Checked: the recorded commits equal the served ones and the lock file; no decoy is downloaded; claims,
report and paper are built and name the stand-ins' commits; a second run runs nothing; a new commit on a
stand-in's main is ignored until the lock is refreshed, then picked up; a running job killed by SLURM
(`scancel --batch --signal=KILL`: SLURM kills the job's processes, the job ends FAILED) is retried and the
run completes with the same tables. The kill cannot race with the job's end: it counts only when sacct says
the job ended FAILED by the signal; a job that completed first is skipped and the next running one killed
(`rehearsal.kill_a_running_job`, tested on its own in test_rehearsal_kill.py).

Why not a plain `scancel`: sacct then reports the state "CANCELLED by <uid>", which
snakemake-executor-plugin-slurm 2.8.0 (the newest release) compares against its exact state names, finds
none, and keeps waiting for the job forever (seen here; ARTIFACT §3b says what a user does then)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
import yaml

from conftest import REPO, copy_repo

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "rehearsal"))  # test tooling
import rehearsal  # noqa: E402
from standins import DECOYS, HYBRID_REPOS, add_commit, build_mirrors  # noqa: E402

pytestmark = pytest.mark.workflow

# What the rehearsal may change in config/paper.yaml: its run name, the grid, the k lists.
SCALED = {
    ("run",),
    ("retrieval", "context_lengths"),
    ("retrieval", "depths"),
    ("retrieval", "max_new_tokens"),
    *{
        ("experiments", section, key)
        for section in ("jrt", "sparsity_sweep", "mmlu", "glue", "recordings")
        for key in ("k",)
    },
    *{("experiments", section, "grid") for section in ("controls", "head_scores", "recordings")},
    ("experiments", "attention_maps", "probes"),
}


def _without_scaled(data: dict) -> dict:
    data = yaml.safe_load(yaml.safe_dump(data))
    for path in SCALED:
        node = data
        for key in path[:-1]:
            node = node.get(key, {})
        node.pop(path[-1], None)
    return data


def test_rehearsal_config_is_the_paper_config_scaled_down() -> None:
    """The paper config scaled down, plus two families of config/hybrids.yaml entered exactly as there, each
    served by a stand-in under its repo id."""
    paper = yaml.safe_load((REPO / "config/paper.yaml").read_text())
    hybrids = yaml.safe_load((REPO / "config/hybrids.yaml").read_text())["models"]
    rehearsal_cfg = yaml.safe_load((REPO / "config/rehearsal.yaml").read_text())
    extra = {n: m for n, m in rehearsal_cfg["models"].items() if n not in paper["models"]}
    assert len(extra) >= 2 and extra == {n: hybrids[n] for n in extra}
    assert {m["repo_id"] for m in extra.values()} <= set(HYBRID_REPOS)
    rehearsal_cfg["models"] = {n: m for n, m in rehearsal_cfg["models"].items() if n not in extra}
    assert _without_scaled(rehearsal_cfg) == _without_scaled(paper)
    assert rehearsal_cfg["run"] != paper["run"]  # outputs apart from the paper run
    assert len(rehearsal_cfg["retrieval"]["context_lengths"]) < len(paper["retrieval"]["context_lengths"])


def _tables(run: Path) -> dict[str, pl.DataFrame]:
    return {
        p.name: pl.read_parquet(p).drop([c for c in pl.read_parquet_schema(p) if c == "revision"])
        for p in sorted((run / "results/tables").glob("*.parquet"))
    }


def _say(capsys: pytest.CaptureFixture[str], message: str) -> None:
    with capsys.disabled():
        print(f"\n[rehearsal] {message}", file=sys.stderr, flush=True)


@pytest.mark.slow
def test_rehearsal_through_olah_and_slurm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    why = rehearsal.slurm_available()
    if why:
        pytest.skip(f"no SLURM cluster here: {why}")
    repo = copy_repo(tmp_path / "repo")
    heads = build_mirrors(tmp_path / "mirrors")
    run = repo / "runs/rehearsal"
    rg2b = "models/google/recurrentgemma-2b"
    with rehearsal.local_hub(tmp_path / "mirrors", tmp_path / "olah") as hub, rehearsal.slurm_cluster():
        _say(capsys, f"olah serving {hub.mirrors} at {hub.endpoint}; SLURM cluster up")
        env = rehearsal.hub_env(hub, tmp_path / "hf-home")
        start = time.monotonic()
        first = rehearsal.run_snakemake(repo, env)
        seconds = time.monotonic() - start
        out = first.stdout + first.stderr
        assert first.returncode == 0, out[-6000:]
        _say(capsys, f"first run: {seconds:.0f} s")

        # every job but the local downloads went through sbatch
        submitted = out.count("has been submitted with SLURM jobid")
        local = sum(
            out.count(f"localrule {r}:")
            for r in ("download_model_snapshot", "download_dataset", "download_haystack", "copy_paper_source")
        )
        assert submitted > 20 and local >= 5, (submitted, local)

        # commits: served == locked == recorded in rows and named in the report
        lock = yaml.safe_load((repo / "config/rehearsal.lock.yaml").read_text())["repos"]
        used = heads  # the five models, cais/mmlu and nyu-mll/glue (GLUE runs on Jamba in paper.yaml)
        assert {k: v["commit"] for k, v in lock.items()} == used
        baseline = pl.read_parquet(run / "results/recurrentgemma-2b/retrieval/baseline.parquet")
        assert set(baseline["revision"]) == {heads[rg2b]}
        # the other families (config/hybrids.yaml's entries): each job passed the canary before its rows
        hybrids = {
            name: spec["repo_id"]
            for name, spec in yaml.safe_load((repo / "config/rehearsal.yaml").read_text())["models"].items()
            if spec["repo_id"] in HYBRID_REPOS
        }
        assert set(hybrids.values()) == set(HYBRID_REPOS)
        for name, repo_id in hybrids.items():
            for table in ("baseline", "attention_ablated", "exposure"):
                rows = pl.read_parquet(run / f"results/{name}/retrieval/{table}.parquet")
                assert rows.height and set(rows["revision"]) == {heads[f"models/{repo_id}"]}, (name, table)
        mmlu = pl.read_parquet(run / "results/jamba-mini-1.6/mmlu/top-5-heads.parquet")
        assert set(mmlu["dataset"]) == {f"cais/mmlu@{heads['datasets/cais/mmlu']}"}
        report = (run / "results/report/index.html").read_text()
        assert all(sha in report for sha in used.values()), "the report does not name every commit"
        assert (run / "results/claims.csv").is_file() and (run / "paper/generated").is_dir()

        # no decoy fetched
        fetched = {p.name for p in (tmp_path / "hf-home").rglob("*")}
        assert not fetched & {Path(d).name for d in DECOYS}

        tables = _tables(run)
        again = rehearsal.run_snakemake(repo, env)
        assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr

        # a new commit is ignored until the lock is refreshed
        new = add_commit(tmp_path / "mirrors", rg2b)
        quiet = rehearsal.run_snakemake(repo, env, "-n")
        assert "Nothing to be done" in quiet.stdout + quiet.stderr
        subprocess.run(
            [sys.executable, "-m", "hybrid_retrieval.artifact.locking", "--refresh", "config/rehearsal.yaml"],
            cwd=repo, env={**env, "PYTHONPATH": str(repo / "src")}, check=True,
        )  # fmt: skip
        lock = yaml.safe_load((repo / "config/rehearsal.lock.yaml").read_text())["repos"]
        assert lock[rg2b]["commit"] == new

        # the refreshed model reruns; SLURM kills one of its running jobs, which is retried. The kill counts
        # only when sacct says the job ended FAILED by SIGKILL: a job that ended on its own first (the kill
        # raced with its end) is skipped and another running job killed.
        cmd = [sys.executable, "-m", "snakemake", *rehearsal.snakemake_args(repo, rehearsal.essays_dir())]
        with open(tmp_path / "third.log", "w") as log_file:
            proc = subprocess.Popen(
                cmd, cwd=repo, env=env, stdout=log_file, stderr=subprocess.STDOUT, text=True
            )
            deadline = time.monotonic() + 2400
            try:
                killed = rehearsal.kill_a_running_job(lambda: proc.poll() is None, timeout=2400)
                if killed is not None:
                    _say(
                        capsys,
                        f"SLURM job {killed.job_id} ended {killed.state} {killed.exit_code} by the kill",
                    )
                    _say(capsys, f"jobs that ended before their kill landed: {killed.missed or 'none'}")
                proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:  # hung (e.g. a job whose end the plugin never sees): fail
                tail = (tmp_path / "third.log").read_text()[-6000:]
                pytest.fail(f"the run with the killed job did not finish within 40 minutes:\n{tail}")
            finally:  # stopped before the servers, whatever went wrong
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        third = (tmp_path / "third.log").read_text()
        assert proc.returncode == 0, third[-6000:]
        assert killed is not None, (
            f"no running SLURM job could be killed before the run ended:\n{third[-6000:]}"
        )
        assert f"SLURM-job '{killed.job_id}' failed" in third, third[-6000:]  # seen as failed ...
        assert "Trying to restart job" in third, third[-6000:]  # ... and retried
        baseline = pl.read_parquet(run / "results/recurrentgemma-2b/retrieval/baseline.parquet")
        assert set(baseline["revision"]) == {new}
        assert _tables(run).keys() == tables.keys()
        for name, table in _tables(run).items():
            assert table.equals(tables[name]), f"{name} changed after the retried run"
    _say(capsys, "olah and SLURM stopped")
