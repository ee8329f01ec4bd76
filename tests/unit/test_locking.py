"""Revision locking: a branch is resolved once, locked beside the config, reused until refreshed; refs the
hub cannot resolve fail before any job with the fix (a fake resolver stands in for the hub here; the
local-hub test in tests/workflow/test_local_hub.py runs the same path against olah)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from hybrid_retrieval.artifact.locking import (
    argv_dry_run,
    argv_job_process,
    config_refs,
    lock_config,
    lock_path_for,
    read_lock,
)
from hybrid_retrieval.config import load_config
from hybrid_retrieval.errors import ConfigError
from hybrid_retrieval.infra import hub

A1, A2, B1 = "a" * 40, "b" * 40, "c" * 40


def _config(revision: str = "main", mmlu: str = "hub") -> dict:
    return {
        "run": "t",
        "models": {"m": {"source": "hub", "repo_id": "org/model", "revision": revision}},
        "datasets": {"mmlu": {"repo_id": "cais/mmlu", "revision": "main"}},
        "haystack": {"kind": "synthetic"},
        "retrieval": {"context_lengths": [300], "depths": [50]},
        "experiments": {"mmlu": {"dataset": mmlu}},
    }


class FakeHub:
    def __init__(self, heads: dict[tuple[str, str], str]) -> None:
        self.heads = heads
        self.calls: list[tuple[str, str, str]] = []

    def __call__(self, repo_id: str, revision: str, repo_type: str) -> str:
        self.calls.append((repo_id, revision, repo_type))
        if (repo_id, revision) not in self.heads:
            raise hub.HubError(f"{repo_type} {repo_id}@{revision}: no branch, tag or commit {revision!r}")
        return self.heads[(repo_id, revision)]


def test_lock_path_is_beside_the_config() -> None:
    assert lock_path_for("config/paper.yaml") == Path("config/paper.lock.yaml")


def test_refs_are_hub_models_and_datasets_in_use() -> None:
    keys = [r.key for r in config_refs(load_config(_config()))]
    assert keys == ["models/org/model", "datasets/cais/mmlu"]
    # MMLU from a local folder: the hub dataset is not needed, so not resolved
    assert [r.key for r in config_refs(load_config(_config(mmlu="resources/mmlu")))] == ["models/org/model"]


def test_branch_resolved_once_locked_and_reused_until_refresh(tmp_path: Path) -> None:
    config_path = tmp_path / "paper.yaml"
    fake = FakeHub({("org/model", "main"): A1, ("cais/mmlu", "main"): B1})
    cfg, pins = lock_config(load_config(_config()), config_path, resolver=fake)
    assert [(p.ref.key, p.commit, p.source) for p in pins] == [
        ("models/org/model", A1, "hub"),
        ("datasets/cais/mmlu", B1, "hub"),
    ]
    assert cfg.models["m"].revision == A1 and cfg.datasets.mmlu.revision == B1  # CFG names commits
    lock = tmp_path / "paper.lock.yaml"
    assert read_lock(lock) == {
        "models/org/model": {"revision": "main", "commit": A1},
        "datasets/cais/mmlu": {"revision": "main", "commit": B1},
    }
    assert "--refresh" in lock.read_text()  # the lock file says how to refresh it
    # main moves on the hub: the lock holds until refreshed
    fake.heads[("org/model", "main")] = A2
    fake.calls.clear()
    _, pins = lock_config(load_config(_config()), config_path, resolver=fake)
    assert fake.calls == [] and pins[0].commit == A1 and pins[0].source == "lock"
    _, pins = lock_config(load_config(_config()), config_path, resolver=fake, refresh=True)
    assert pins[0].commit == A2
    assert read_lock(lock)["models/org/model"]["commit"] == A2


def test_a_new_ref_in_the_config_is_resolved_again(tmp_path: Path) -> None:
    fake = FakeHub({("org/model", "main"): A1, ("org/model", "v2"): A2, ("cais/mmlu", "main"): B1})
    lock_config(load_config(_config()), tmp_path / "c.yaml", resolver=fake)
    _, pins = lock_config(load_config(_config("v2")), tmp_path / "c.yaml", resolver=fake)
    assert pins[0].commit == A2 and pins[0].source == "hub"


def test_a_sha_is_checked_when_new_then_locked_and_not_asked_again(tmp_path: Path) -> None:
    fake = FakeHub({("org/model", A1): A1, ("cais/mmlu", "main"): B1})
    _, pins = lock_config(load_config(_config(A1)), tmp_path / "c.yaml", resolver=fake)
    assert (pins[0].commit, pins[0].source) == (A1, "config")
    assert ("org/model", A1, "model") in fake.calls  # checked against the hub: the lock entry was new
    assert read_lock(tmp_path / "c.lock.yaml")["models/org/model"] == {"revision": A1, "commit": A1}
    fake.calls.clear()
    _, pins = lock_config(load_config(_config(A1)), tmp_path / "c.yaml", resolver=fake)
    assert fake.calls == [] and pins[0].commit == A1  # unchanged entry: the lock is trusted


def test_an_unknown_sha_stops_with_repo_sha_and_fix(tmp_path: Path) -> None:
    fake = FakeHub({("org/model", "main"): A1, ("cais/mmlu", "main"): B1})
    lock_config(load_config(_config()), tmp_path / "c.yaml", resolver=fake)
    before = (tmp_path / "c.lock.yaml").read_text()
    made_up = "0123456789abcdef0123456789abcdef01234567"
    with pytest.raises(ConfigError) as info:  # a changed entry: main -> a made-up sha
        lock_config(load_config(_config(made_up)), tmp_path / "c.yaml", resolver=fake)
    message = str(info.value)
    assert f"org/model@{made_up}" in message and "set the revision to an existing commit sha" in message
    assert (tmp_path / "c.lock.yaml").read_text() == before  # the lock is left as it was


def test_a_sha_the_hub_names_otherwise_is_refused(tmp_path: Path) -> None:
    fake = FakeHub({("org/model", A1): A2, ("cais/mmlu", "main"): B1})
    with pytest.raises(ConfigError, match=f"org/model@{A1}: the hub names commit {A2}"):
        lock_config(load_config(_config(A1)), tmp_path / "c.yaml", resolver=fake)


def test_a_sha_in_a_dry_run_without_hub_goes_on_unchecked_and_unlocked(tmp_path: Path) -> None:
    def unreachable(repo_id: str, revision: str, repo_type: str) -> str:
        raise hub.HubUnreachableError(f"{repo_type} {repo_id}@{revision}: the hub cannot be reached")

    cfg, pins = lock_config(load_config(_config(A1)), tmp_path / "c.yaml", resolver=unreachable, dry_run=True)
    assert [(p.commit, p.source) for p in pins] == [(A1, "unresolved"), (None, "unresolved")]
    assert cfg.models["m"].revision == A1
    assert not (tmp_path / "c.lock.yaml").exists()


def test_another_endpoint_than_the_locks_warns_once_naming_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from hybrid_retrieval.artifact import locking

    fake = FakeHub({("org/model", "main"): A1, ("cais/mmlu", "main"): B1})
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9/mirror")
    monkeypatch.setattr(locking, "_warned_endpoints", set())
    lock_config(load_config(_config()), tmp_path / "c.yaml", resolver=fake)
    with caplog.at_level("WARNING", logger="hybrid_retrieval.artifact.locking"):
        lock_config(load_config(_config()), tmp_path / "c.yaml", resolver=fake)  # same endpoint: quiet
        assert caplog.records == []
        monkeypatch.setenv("HF_ENDPOINT", "https://huggingface.co")
        for _ in range(3):
            lock_config(load_config(_config()), tmp_path / "c.yaml", resolver=fake)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert "http://127.0.0.1:9/mirror" in warnings[0] and "https://huggingface.co" in warnings[0]
    assert "HF_ENDPOINT=http://127.0.0.1:9/mirror" in warnings[0]  # the fix
    # a job Snakemake spawns (SLURM: --mode remote) parses the Snakefile again: it does not warn again
    monkeypatch.setattr(locking, "_warned_endpoints", set())
    monkeypatch.setattr(sys, "argv", ["snakemake", "--target-jobs", "x", "--mode", "remote"])
    caplog.clear()
    with caplog.at_level("WARNING", logger="hybrid_retrieval.artifact.locking"):
        lock_config(load_config(_config()), tmp_path / "c.yaml", resolver=fake)
    assert caplog.records == []


@pytest.mark.parametrize(
    ("argv", "job"),
    [
        (["snakemake", "--cores", "2"], False),
        (["snakemake", "--mode", "remote", "--target-jobs", "a"], True),
        (["snakemake", "--mode=subprocess"], True),
        (["snakemake", "--mode", "default"], False),
    ],
)
def test_argv_job_process(argv: list[str], job: bool) -> None:
    assert argv_job_process(argv) is job


def test_unresolvable_refs_fail_listing_each_with_the_fix(tmp_path: Path) -> None:
    fake = FakeHub({})
    with pytest.raises(ConfigError) as info:
        lock_config(load_config(_config("nope")), tmp_path / "c.yaml", resolver=fake, dry_run=True)
    message = str(info.value)
    assert "org/model@nope" in message and "cais/mmlu@main" in message and "--refresh" in message
    assert not (tmp_path / "c.lock.yaml").exists()


def test_unreachable_hub_fails_a_run_but_not_a_dry_run(tmp_path: Path) -> None:
    def unreachable(repo_id: str, revision: str, repo_type: str) -> str:
        raise hub.HubUnreachableError(f"{repo_type} {repo_id}@{revision}: the hub cannot be reached")

    with pytest.raises(ConfigError, match="cannot be reached"):
        lock_config(load_config(_config()), tmp_path / "c.yaml", resolver=unreachable)
    cfg, pins = lock_config(load_config(_config()), tmp_path / "c.yaml", resolver=unreachable, dry_run=True)
    assert [p.source for p in pins] == ["unresolved", "unresolved"]
    assert cfg.models["m"].revision == "main"
    assert not (tmp_path / "c.lock.yaml").exists()


def test_placeholder_zero_revision_is_refused_by_the_config() -> None:
    with pytest.raises(ConfigError, match="all zeros"):
        load_config(_config("0" * 40))


def test_a_broken_lock_file_says_how_to_fix_it(tmp_path: Path) -> None:
    (tmp_path / "c.lock.yaml").write_text(yaml.safe_dump({"repos": {"models/org/model": {"commit": "x"}}}))
    with pytest.raises(ConfigError, match="no 40-hex commit; delete the entry"):
        read_lock(tmp_path / "c.lock.yaml")


@pytest.mark.parametrize(
    ("argv", "dry"),
    [
        (["snakemake", "-n"], True),
        (["snakemake", "--dry-run", "--cores", "2"], True),
        (["snakemake", "-np"], True),
        (["snakemake", "--cores", "2", "--configfile", "config/paper.yaml"], False),
        (["snakemake", "--profile", "profiles/slurm"], False),
    ],
)
def test_argv_dry_run(argv: list[str], dry: bool) -> None:
    assert argv_dry_run(argv) is dry
