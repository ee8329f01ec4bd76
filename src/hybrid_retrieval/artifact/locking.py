"""Revision lock files: every hub model and dataset of a config at one exact commit.

A config may pin a revision to a commit sha or name a branch or tag. A branch or tag is resolved once,
at the first run (DAG build), to its commit, and written to the lock file beside the config
(`config/paper.yaml` -> `config/paper.lock.yaml`, committed by the user like any lock file). Later runs
use the locked commit, without asking the hub, until the user refreshes the lock:

    hybrid-retrieval lock --refresh config/paper.yaml      (or: make lock CONFIG=...)

A sha in the config is checked against the hub when its lock entry is new or changed (the same call that
resolves a branch), and locked like a branch; an unknown sha stops here with the fix. A ref the hub
does not know, a gated repository without a token, or no hub at all fail before any job runs, naming
the repository and the fix. Only a dry run (`snakemake -n`) may go on with an unresolved ref when the hub
cannot be reached: it shows the jobs and writes no lock. A run whose HF_ENDPOINT differs from the endpoint
the lock was made against warns once, naming both.

This module imports no torch or transformers: the Snakefile calls it at parse time.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hybrid_retrieval.errors import ConfigError
from hybrid_retrieval.infra import hub

log = logging.getLogger(__name__)
LOCK_VERSION = 1
REFRESH_COMMAND = "hybrid-retrieval lock --refresh {config}  (or: make lock CONFIG={config})"


@dataclass(frozen=True)
class Ref:
    """One hub repository of a config at the revision the config names."""

    repo_type: hub.RepoType
    repo_id: str
    revision: str

    @property
    def key(self) -> str:
        return f"{self.repo_type}s/{self.repo_id}"


@dataclass(frozen=True)
class Pin:
    ref: Ref
    commit: str | None  # None only in a dry run whose hub was unreachable
    source: str  # "config" (a sha), "lock", "hub" (resolved now) or "unresolved"


def shown(path: str | os.PathLike[str]) -> str:
    """A path as the user would type it: relative to the working directory when below it."""
    try:
        return os.path.relpath(path) if not os.path.relpath(path).startswith("..") else str(path)
    except ValueError:
        return str(path)


def lock_path_for(config_path: str | os.PathLike[str]) -> Path:
    """config/paper.yaml -> config/paper.lock.yaml (beside the config)."""
    path = Path(config_path)
    return path.with_name(f"{path.stem}.lock.yaml")


def config_refs(cfg: Any) -> list[Ref]:
    """The hub repositories a validated `Config` downloads: hub models, and the datasets in use."""
    refs = [
        Ref("model", spec.repo_id, spec.revision)
        for spec in cfg.models.values()
        if getattr(spec, "source", None) == "hub"
    ]
    refs += [Ref("dataset", d.repo_id, d.revision) for d in cfg.hub_datasets_in_use().values()]
    unique: dict[str, Ref] = {}
    for ref in refs:
        other = unique.setdefault(ref.key, ref)
        if other.revision != ref.revision:
            raise ConfigError(
                f"{ref.key} is named twice with different revisions ({other.revision!r}, {ref.revision!r}); "
                "use one revision per repository in a config"
            )
    return list(unique.values())


def read_lock(path: str | os.PathLike[str]) -> dict[str, dict[str, str]]:
    """{"models/org/repo": {"revision": ref, "commit": sha}, ...}; {} when there is no lock file."""
    path = Path(path)
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    entries = data.get("repos") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        raise ConfigError(f"lock file {path} has no 'repos' mapping; delete it and run again to rewrite it")
    for key, entry in entries.items():
        if not (isinstance(entry, dict) and hub.is_commit(str(entry.get("commit", "")))):
            raise ConfigError(
                f"lock file {path}: entry {key!r} has no 40-hex commit; delete the entry (or the file) and "
                "run again to resolve it"
            )
    return entries


def write_lock(path: str | os.PathLike[str], pins: list[Pin], config_path: str | os.PathLike[str]) -> Path:
    from hybrid_retrieval.io import write_text

    entries = {
        p.ref.key: {"revision": p.ref.revision, "commit": p.commit}
        for p in sorted(pins, key=lambda p: p.ref.key)
        if p.commit is not None
    }
    header = (
        f"# Written by hybrid_retrieval.artifact.locking: the commit each hub revision of {Path(config_path).name} "
        "resolved to.\n"
        "# Commit this file. Runs use these commits until it is refreshed:\n"
        f"#   {REFRESH_COMMAND.format(config=shown(config_path))}\n"
    )
    body = {"version": LOCK_VERSION, "endpoint": hub.endpoint(), "repos": entries}
    return write_text(header + yaml.safe_dump(body, sort_keys=True, default_flow_style=False), path)


def resolve_pins(
    refs: list[Ref],
    lock_path: str | os.PathLike[str],
    *,
    config_path: str | os.PathLike[str],
    refresh: bool = False,
    dry_run: bool = False,
    resolver: Callable[[str, str, hub.RepoType], str] = hub.resolve_commit,
) -> list[Pin]:
    """Each ref at its commit: a sha as is, a ref from the lock (same ref), else from the hub (and locked).

    Writes the lock file when something new was resolved (or on refresh). Errors list every repository
    that could not be resolved, each with its fix."""
    locked = {} if refresh else read_lock(lock_path)
    pins: list[Pin] = []
    problems: list[str] = []
    changed = refresh
    for ref in refs:
        entry = locked.get(ref.key)
        sha = hub.is_commit(ref.revision)
        if (
            entry is not None
            and entry.get("revision") == ref.revision
            and (not sha or entry.get("commit") == ref.revision)
        ):
            pins.append(Pin(ref, entry["commit"], "config" if sha else "lock"))
            continue
        # New or changed: a branch/tag is resolved, a sha checked, by the same call to the hub.
        try:
            commit = resolver(ref.repo_id, ref.revision, ref.repo_type)
        except hub.HubUnreachableError as error:
            if dry_run:
                log.warning("dry run: %s; showing the jobs with the unchecked ref", error)
                pins.append(Pin(ref, ref.revision if sha else None, "unresolved"))
                continue
            problems.append(str(error) + (_unknown_sha_fix(ref) if sha else ""))
            continue
        except hub.HubError as error:
            problems.append(str(error) + (_unknown_sha_fix(ref) if sha else ""))
            continue
        if sha and commit != ref.revision:
            problems.append(
                f"{ref.repo_type} {ref.repo_id}@{ref.revision}: the hub names commit {commit} for it"
                + _unknown_sha_fix(ref)
            )
            continue
        pins.append(Pin(ref, commit, "config" if sha else "hub"))
        changed = True
    if problems:
        raise ConfigError(
            "cannot resolve the hub revisions of "
            f"{shown(config_path)}:\n  "
            + "\n  ".join(problems)
            + f"\n  (resolved commits are locked in {shown(lock_path)}; refresh: "
            + REFRESH_COMMAND.format(config=shown(config_path))
            + ")"
        )
    stale = set(locked) - {r.key for r in refs}
    if (changed or stale) and all(p.source != "unresolved" for p in pins) and pins:
        write_lock(lock_path, pins, config_path)
        log.info("locked %d hub revisions in %s", len(pins), lock_path)
    return pins


def _unknown_sha_fix(ref: Ref) -> str:
    return (
        f"; if {ref.revision} is not a commit of {ref.repo_id} at {hub.endpoint()}, set the revision to an "
        "existing commit sha (or a branch: it is locked at its current commit)"
    )


_warned_endpoints: set[tuple[str, str, str]] = set()


def read_lock_endpoint(path: str | os.PathLike[str]) -> str | None:
    """The hub endpoint a lock file was made against (None: no lock, or none recorded)."""
    path = Path(path)
    if not path.is_file():
        return None
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    value = data.get("endpoint") if isinstance(data, dict) else None
    return str(value) if value else None


def warn_endpoint_mismatch(lock_path: str | os.PathLike[str]) -> str | None:
    """Warn (once per lock and endpoint pair in a process) when the lock was made against another hub than
    this run's HF_ENDPOINT: its commits may not exist here. Returns the warning, or None."""
    recorded = read_lock_endpoint(lock_path)
    current = hub.endpoint()
    if recorded is None or recorded.rstrip("/") == current.rstrip("/"):
        return None
    message = (
        f"{shown(lock_path)} was made against the hub {recorded}, but this run uses {current} (HF_ENDPOINT): "
        f"its commits may not exist there; set HF_ENDPOINT={recorded}, or refresh the lock against {current}"
    )
    key = (str(Path(lock_path).resolve()), recorded, current)
    if key not in _warned_endpoints:
        _warned_endpoints.add(key)
        log.warning("%s", message)
    return message


def commits(pins: list[Pin]) -> dict[str, str | None]:
    """{"models/org/repo": commit, ...}"""
    return {p.ref.key: p.commit for p in pins}


def lock_config(
    cfg: Any,
    config_path: str | os.PathLike[str],
    *,
    lock_path: str | os.PathLike[str] | None = None,
    refresh: bool = False,
    dry_run: bool = False,
    resolver: Callable[[str, str, hub.RepoType], str] = hub.resolve_commit,
) -> tuple[Any, list[Pin]]:
    """(the config with every hub revision replaced by its commit, the pins). Unresolved refs (dry run
    only) stay as written."""
    lock_path = lock_path_for(config_path) if lock_path is None else Path(lock_path)
    if not refresh and not argv_job_process(sys.argv):  # a job Snakemake spawned: the main process warned
        warn_endpoint_mismatch(lock_path)
    pins = resolve_pins(
        config_refs(cfg),
        lock_path,
        config_path=config_path,
        refresh=refresh,
        dry_run=dry_run,
        resolver=resolver,
    )
    return cfg.with_commits(commits(pins)), pins


def argv_dry_run(argv: list[str]) -> bool:
    """Whether a snakemake command line asks for a dry run (-n, --dry-run, --dryrun, or -n in a group
    of short flags such as -np). Snakemake does not tell the Snakefile at parse time."""
    for arg in argv[1:]:
        if arg in ("--dry-run", "--dryrun", "-n"):
            return True
        if arg.startswith("-") and not arg.startswith("--") and "n" in arg[1:] and arg[1:].isalpha():
            return True
    return False


def argv_job_process(argv: list[str]) -> bool:
    """Whether a command line is a job Snakemake spawned (`--mode subprocess` or `--mode remote`, e.g. a
    SLURM job): it parses the Snakefile again, and locks again, after the main process did."""
    for i, arg in enumerate(argv[1:], start=1):
        if arg.startswith("--mode="):
            return arg.split("=", 1)[1] in ("subprocess", "remote")
        if arg == "--mode" and i + 1 < len(argv):
            return argv[i + 1] in ("subprocess", "remote")
    return False


def main(argv: list[str] | None = None, prog: str = "hybrid-retrieval lock") -> int:
    """`hybrid-retrieval lock` (also `python -m hybrid_retrieval.artifact.locking`, which the workflow tests run)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Resolve the hub revisions of a config and write its lock file (config/<name>.lock.yaml).",
    )
    parser.add_argument("config", help="the config file, e.g. config/paper.yaml")
    parser.add_argument(
        "--refresh", action="store_true", help="resolve every branch/tag again (new commits are picked up)"
    )
    parser.add_argument("--lock", help="lock file (default: beside the config)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from hybrid_retrieval.config import load_config_file
    from hybrid_retrieval.errors import HybridRetrievalError

    try:
        cfg = load_config_file(args.config)
        _, pins = lock_config(cfg, args.config, lock_path=args.lock, refresh=args.refresh)
    except HybridRetrievalError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for pin in pins:
        print(f"{pin.ref.key}@{pin.ref.revision}: {pin.commit} ({pin.source})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
