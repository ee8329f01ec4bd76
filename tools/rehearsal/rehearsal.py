"""The offline dress rehearsal of the real-model path: stand-ins under the real names on a local hub
(olah), the paper config scaled down (config/rehearsal.yaml), every job through `--profile profiles/slurm`
on a one-node SLURM cluster.

    .venv/bin/python tools/rehearsal/rehearsal.py [--workdir .rehearsal]      (make rehearsal)

builds the stand-ins (`standins.py` beside it), starts olah (`scripts/olah-hub.sh`) and SLURM
(`scripts/slurm-cluster.sh`, root on Debian), runs the workflow and stops both servers by their PIDs, also
when the run fails. The command line adds to the config only what this machine needs: `device=cpu` and
float32 (no GPU) and, without network, the essays from a local folder (`HR_ESSAYS_DIR`, or ../shared/data/
paul_graham_essays beside the checkout; without one the synthetic haystack, said in the log). The test
`tests/workflow/test_rehearsal.py` drives the same pieces and checks the results; `kill_a_running_job` is
its SLURM kill, confirmed through sacct (a job that ended before the kill landed is not counted).

Test tooling, not part of the package: it lives in tools/rehearsal/ with the stand-ins, and the tests put
that folder on sys.path (`import rehearsal`, `from standins import ...`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]
CONFIG = "config/rehearsal.yaml"
# Small requests so every job fits a CI machine (the profile's are for real GPUs nodes); rules not listed
# get the defaults.
JOB_RESOURCES = {"mem_mb": 2500, "runtime": 20, "cpus_per_task": 1}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def essays_dir() -> Path | None:
    """A local copy of the pinned essays (offline), or None."""
    for candidate in (os.environ.get("HR_ESSAYS_DIR"), REPO.parent / "shared/data/paul_graham_essays"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate).resolve()
    return None


def config_overrides(essays: Path | None, repo: Path = REPO) -> list[str]:
    """`--config` values for this machine: the CPU in float32 (bfloat16 matrix products run hundreds of
    times slower on CPUs without native bf16: 183 s against 0.6 s for 320x4096 @ 4096x4096 here), and the
    essays' local folder (or the synthetic haystack)."""
    models = yaml.safe_load((repo / CONFIG).read_text())["models"]
    values = ["device=cpu", "models=" + json.dumps({name: {"dtype": "float32"} for name in models})]
    if essays is not None:
        values.append(f'haystack={{"kind": "paul_graham", "from_dir": "{essays}"}}')
    else:
        log.warning("no local copy of the essays (HR_ESSAYS_DIR): the rehearsal uses the synthetic haystack")
        values.append('haystack={"kind": "synthetic"}')
    return values


def snakemake_args(repo: Path = REPO, essays: Path | None = None) -> list[str]:
    """The rehearsal's snakemake arguments (after `python -m snakemake`)."""
    profile = yaml.safe_load((repo / "profiles/slurm/config.yaml").read_text())
    rules = sorted(profile.get("set-resources", {}))
    resources = [f"{rule}:{key}={value}" for rule in rules for key, value in JOB_RESOURCES.items()]
    defaults = [f"{key}={value}" for key, value in JOB_RESOURCES.items()]
    return [
        "--profile", "profiles/slurm",
        "--default-resources", *defaults,
        "--set-resources", *resources,
        "--slurm-init-seconds-before-status-checks", "5",
        "--config", *config_overrides(essays, repo),
        "--configfile", CONFIG,
    ]  # fmt: skip


@dataclass
class Hub:
    endpoint: str
    mirrors: Path
    state: Path


@contextlib.contextmanager
def local_hub(mirrors: Path, state: Path, port: int | None = None) -> Iterator[Hub]:
    """olah serving `mirrors`, stopped by its PID on exit (also on failure)."""
    port = port or free_port()
    script = REPO / "scripts/olah-hub.sh"
    subprocess.run([str(script), "start", str(mirrors), str(state), str(port)], check=True)
    try:
        yield Hub(f"http://127.0.0.1:{port}", mirrors, state)
    finally:
        subprocess.run([str(script), "stop", str(state)], check=False)


@contextlib.contextmanager
def slurm_cluster() -> Iterator[None]:
    """The one-node SLURM cluster (with accounting), stopped by PID on exit (also on failure)."""
    script = REPO / "scripts/slurm-cluster.sh"
    try:
        subprocess.run(["bash", str(script), "start"], check=True)
        yield
    finally:
        subprocess.run(["bash", str(script), "stop"], check=False)


def slurm_available() -> str | None:
    """None when a one-node cluster can be started here, else why not."""
    if os.geteuid() != 0:
        return "not root (slurmctld, slurmd and munged are started as root)"
    missing = [
        c for c in ("slurmctld", "slurmd", "sbatch", "munged", "slurmdbd", "mariadbd") if not shutil.which(c)
    ]
    if missing and not shutil.which("apt-get"):
        return f"SLURM is not installed ({', '.join(missing)}) and there is no apt-get"
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        return "snakemake-executor-plugin-slurm is not installed (make slurm)"
    return None


def hub_env(hub: Hub, hf_home: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "HF_ENDPOINT": hub.endpoint,
        "HF_HOME": str(hf_home),
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    env.pop("HF_HUB_OFFLINE", None)
    return env


def run_snakemake(
    repo: Path, env: dict[str, str], *extra: str, timeout: float = 3600, capture: bool = True
) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", *snakemake_args(repo, essays_dir()), *extra]
    log.info("running: %s", " ".join(cmd))
    return subprocess.run(cmd, cwd=repo, env=env, text=True, capture_output=capture, timeout=timeout)


# sacct states of a job that has not ended yet (anything else, e.g. COMPLETED, FAILED, "CANCELLED by 0", is final)
_ACTIVE_STATES = {"", "PENDING", "RUNNING", "REQUEUED", "RESIZING", "SUSPENDED", "COMPLETING", "CONFIGURING"}


@dataclass
class KilledJob:
    job_id: str
    state: str  # sacct's State: FAILED
    exit_code: str  # sacct's ExitCode, "<exit>:<signal>": "0:9"
    missed: list[str]  # jobs that ended on their own before the kill landed (a race), then skipped


def running_jobs() -> list[str]:
    """The ids of the SLURM jobs squeue lists as RUNNING."""
    out = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i"], capture_output=True, text=True)
    return out.stdout.split()


def kill_batch(job_id: str) -> None:
    """SIGKILL a job's batch script: SLURM then ends the job FAILED (a plain scancel ends it "CANCELLED by
    <uid>", which snakemake-executor-plugin-slurm 2.8.0 never recognises: it waits forever)."""
    # rc 1 when the job is already completing: sacct then says how it ended
    subprocess.run(["scancel", "--batch", "--signal=KILL", job_id], capture_output=True, text=True)


def job_end(job_id: str, timeout: float = 180) -> tuple[str, str]:
    """(State, ExitCode) of a job once accounting records its end (sacct); TimeoutError if it does not."""
    deadline = time.monotonic() + timeout
    while True:
        out = subprocess.run(
            ["sacct", "-j", job_id, "-X", "-n", "-P", "-o", "State,ExitCode"], capture_output=True, text=True
        ).stdout.strip()
        state, _, exit_code = out.splitlines()[0].partition("|") if out else ("", "", "")
        if state not in _ACTIVE_STATES:
            return state, exit_code
        if time.monotonic() > deadline:
            raise TimeoutError(f"SLURM job {job_id} has not ended within {timeout:.0f} s (sacct: {out!r})")
        time.sleep(1)


def killed_by_signal(state: str, exit_code: str, signal: int = 9) -> bool:
    """Whether sacct says the job ended FAILED by `signal` (ExitCode "<exit>:<signal>", or 128+signal)."""
    code, _, sig = exit_code.partition(":")
    return state == "FAILED" and (sig == str(signal) or code == str(128 + signal))


def kill_a_running_job(still_running: Callable[[], bool], timeout: float = 2400) -> KilledJob | None:
    """Kill one running SLURM job for good: SIGKILL its batch script, then check through sacct that it
    ended FAILED by the signal. A job that ended otherwise (the kill raced with its normal end) does not
    count: the next running job is tried. None when `still_running()` turns false (or `timeout` passes)
    before a kill landed."""
    missed: list[str] = []
    deadline = time.monotonic() + timeout
    while still_running() and time.monotonic() < deadline:
        candidates = [j for j in running_jobs() if j not in missed]
        if not candidates:
            time.sleep(2)
            continue
        job = max(candidates, key=lambda j: (len(j), j))  # the newest: the least likely to be about to end
        kill_batch(job)
        state, exit_code = job_end(job)
        if killed_by_signal(state, exit_code):
            log.info("SLURM job %s killed: %s %s", job, state, exit_code)
            return KilledJob(job, state, exit_code, missed)
        log.info(
            "SLURM job %s ended %s (%s) before the kill landed; trying another job", job, state, exit_code
        )
        missed.append(job)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/rehearsal/rehearsal.py", description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default=".rehearsal", help="stand-ins, olah state and the HF cache")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[rehearsal] %(message)s")
    why = slurm_available()
    if why:
        print(f"error: the rehearsal needs a SLURM cluster here: {why}", file=sys.stderr)
        return 2
    work = (REPO / args.workdir).resolve()
    mirrors = work / "mirrors"
    if not (mirrors / "models").is_dir():
        from standins import build_mirrors

        log.info("building the stand-ins in %s", mirrors)
        build_mirrors(mirrors)
    start = time.monotonic()
    with local_hub(mirrors, work / "olah") as hub, slurm_cluster():
        proc = run_snakemake(REPO, hub_env(hub, work / "hf-home"), capture=False)
    log.info(
        "finished in %.0f s (exit %d); report: runs/rehearsal/results/report/index.html",
        time.monotonic() - start,
        proc.returncode,
    )
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main())
