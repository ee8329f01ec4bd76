"""scripts/clear-stale-lock.sh (run by `make reproduce`): a lock left by kill -9 is cleared, a live one kept."""

from __future__ import annotations

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "clear-stale-lock.sh"


def _locked(folder: Path) -> Path:
    locks = folder / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.input.lock").write_text("results/x\n")
    (locks / "0.output.lock").write_text("results/y\n")
    return locks


def test_stale_lock_is_cleared_and_reported(tmp_path: Path) -> None:
    locks = _locked(tmp_path)
    done = subprocess.run(["bash", str(SCRIPT)], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert "Cleared a stale Snakemake lock (2 file(s)" in done.stdout
    assert list(locks.iterdir()) == []


def test_lock_of_a_running_snakemake_is_kept(tmp_path: Path) -> None:
    locks = _locked(tmp_path)
    # a process named snakemake whose working directory is this folder
    live = subprocess.Popen(["bash", "-c", "exec -a snakemake sleep 60"], cwd=tmp_path)
    try:
        done = subprocess.run(["bash", str(SCRIPT)], cwd=tmp_path, capture_output=True, text=True, check=True)
    finally:
        live.kill()
        live.wait()
    assert f"held by running process {live.pid}" in done.stderr
    assert len(list(locks.iterdir())) == 2


def test_nothing_to_do_without_a_lock(tmp_path: Path) -> None:
    done = subprocess.run(["bash", str(SCRIPT)], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert done.stdout == "" and done.stderr == ""
