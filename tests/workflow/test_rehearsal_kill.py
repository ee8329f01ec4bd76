"""The rehearsal's SLURM kill (`rehearsal.kill_a_running_job`) cannot race with a job's end: a kill counts
only when sacct says the job ended FAILED by SIGKILL; a job that ended otherwise before the kill landed is
skipped and the next running job killed. The decision logic with scripted squeue/sacct answers, then the
same on a one-node SLURM cluster, with a job that completed before its kill (what squeue can still list
for a moment)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "rehearsal"))  # test tooling
import rehearsal  # noqa: E402


@pytest.mark.parametrize(
    ("state", "exit_code", "killed"),
    [
        ("FAILED", "0:9", True),
        ("FAILED", "137:0", True),
        ("COMPLETED", "0:0", False),
        ("FAILED", "1:0", False),  # failed on its own (an error in the job), not by the kill
        ("CANCELLED by 0", "0:9", False),
        ("TIMEOUT", "0:9", False),
    ],
)
def test_killed_by_signal_reads_sacct(state, exit_code, killed):
    assert rehearsal.killed_by_signal(state, exit_code) is killed


def _scripted(monkeypatch, queue: list[list[str]], ends: dict[str, tuple[str, str]]) -> list[str]:
    """squeue answers `queue` in turn (then the last one), sacct `ends`; returns the jobs killed."""
    kills: list[str] = []
    monkeypatch.setattr(rehearsal, "running_jobs", lambda: queue.pop(0) if len(queue) > 1 else queue[0])
    monkeypatch.setattr(rehearsal, "kill_batch", kills.append)
    monkeypatch.setattr(rehearsal, "job_end", lambda job: ends[job])
    monkeypatch.setattr(rehearsal.time, "sleep", lambda s: None)
    return kills


def test_a_job_that_completed_before_its_kill_is_skipped_and_another_killed(monkeypatch):
    ends = {"12": ("COMPLETED", "0:0"), "11": ("FAILED", "0:9")}
    kills = _scripted(monkeypatch, [["11", "12"], ["11"]], ends)
    killed = rehearsal.kill_a_running_job(lambda: True, timeout=60)
    assert kills == ["12", "11"]  # the newest first; it had completed, so the next one
    assert killed == rehearsal.KilledJob("11", "FAILED", "0:9", missed=["12"])


def test_no_kill_is_reported_when_every_job_ended_first(monkeypatch):
    ends = {"5": ("COMPLETED", "0:0"), "6": ("FAILED", "1:0")}
    polls = iter([True, True, True, True, False])
    kills = _scripted(monkeypatch, [["5", "6"], ["5"], []], ends)
    assert rehearsal.kill_a_running_job(lambda: next(polls), timeout=60) is None
    assert kills == ["6", "5"]


def test_nothing_is_killed_once_the_run_has_ended(monkeypatch):
    kills = _scripted(monkeypatch, [["3"]], {"3": ("FAILED", "0:9")})
    assert rehearsal.kill_a_running_job(lambda: False) is None and kills == []


def _sbatch(tmp_path: Path, command: str) -> str:
    out = subprocess.run(
        [
            "sbatch",
            "--parsable",
            "-n",
            "1",
            "--mem=100",
            f"--chdir={tmp_path}",
            "-o",
            "%j.out",
            "--wrap",
            command,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip().split(";")[0]


@pytest.mark.workflow
@pytest.mark.slow
def test_on_slurm_a_completed_job_is_not_counted_and_a_running_one_is_killed(tmp_path, monkeypatch):
    why = rehearsal.slurm_available()
    if why:
        pytest.skip(f"no SLURM cluster here: {why}")
    with rehearsal.slurm_cluster():
        running = _sbatch(tmp_path, "sleep 600")
        done = _sbatch(tmp_path, "true")
        assert rehearsal.job_end(done) == ("COMPLETED", "0:0")
        deadline = time.monotonic() + 120
        while running not in rehearsal.running_jobs():
            assert time.monotonic() < deadline, f"job {running} never ran"
            time.sleep(1)
        # squeue listing the completed job too: the race of a job ending just as it is picked
        real = rehearsal.running_jobs
        monkeypatch.setattr(rehearsal, "running_jobs", lambda: [*real(), done])
        killed = rehearsal.kill_a_running_job(lambda: True, timeout=300)
        assert killed is not None and killed.job_id == running and killed.missed == [done]
        assert killed.state == "FAILED" and rehearsal.killed_by_signal(killed.state, killed.exit_code)
        assert rehearsal.job_end(running)[0] == "FAILED"
