"""The CLI: every subcommand parses, package errors exit 2 with one line, export-schema writes the schema."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from types import SimpleNamespace

import httpx2 as httpx
import pytest
import yaml

from hybrid_retrieval.cli import build_parser, main
from hybrid_retrieval.config import schema_yaml

REPO = Path(__file__).resolve().parents[2]
COMMANDS = [
    "train-toy", "download-model", "download-haystack", "retrieval", "sparsify", "head-scores",
    "mmlu", "record", "attention-maps", "glue", "download-dataset", "aggregate", "report", "paper",
    "export-schema",
    # the tools (cli.TOOLS: each its module's own parser)
    "lock", "check-reference", "refresh-reference", "artifact-verdicts", "summary", "config-docs",
    "claims-design", "seed-table", "generation-config",
]  # fmt: skip


def test_every_subcommand_exists() -> None:
    parser = build_parser()
    choices = next(a for a in parser._actions if a.dest == "command").choices
    assert sorted(choices) == sorted(COMMANDS)


def test_unknown_model_exits_2_naming_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    assert main(["retrieval", "--model", "nope", "--experiment", "baseline"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'nope'" in err and "toy-jamba" in err


def test_missing_config_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["train-toy", "--config", str(tmp_path / "none.yaml"), "--model", "m"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_training_a_hub_model_is_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    assert main(["train-toy", "--config", "config/paper.yaml", "--model", "jamba-mini-1.6"]) == 2
    assert "not a toy" in capsys.readouterr().err


def test_download_on_a_branch_locks_it_beside_the_config_then_downloads_the_locked_commit(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """paper.yaml names branches: `download-model --config --model` resolves them as the workflow does,
    locks them beside the config and downloads the locked commit into the run folder; a hub refusal exits 2
    with a line naming the repository and the fix before any download, and writes no lock. A copy of paper.yaml in tmp_path and a stand-in
    hub (HfApi.repo_info): no network, and the checkout's config/paper.lock.yaml is never written. Also:
    an existing lock, tests/unit/test_download_cli_paths.py::test_download_model_pins_through_the_lock; end
    to end against a local hub, tests/workflow/test_hub_download.py::
    test_cli_download_pins_through_the_lock_into_the_run_folder."""
    import huggingface_hub
    from huggingface_hub.errors import GatedRepoError

    from hybrid_retrieval.infra import hub

    checkout_locks = sorted((REPO / "config").glob("*.lock.yaml"))
    shutil.copy(REPO / "config/paper.yaml", tmp_path / "paper.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    asked, downloads = [], []

    def repo_info(self: object, repo_id: str, *, revision: str, repo_type: str, **kwargs: object) -> object:
        asked.append((repo_type, repo_id, revision))
        return SimpleNamespace(sha=hashlib.sha1(f"{repo_type}/{repo_id}@{revision}".encode()).hexdigest())

    monkeypatch.setattr(huggingface_hub.HfApi, "repo_info", repo_info)
    monkeypatch.setattr(hub, "download_model_snapshot", lambda *a, **k: downloads.append((a, k)))
    command = ["download-model", "--config", "paper.yaml", "--model", "jamba-mini-1.6"]
    assert main(command) == 0
    jamba = hashlib.sha1(b"model/ai21labs/AI21-Jamba-Mini-1.6@main").hexdigest()
    assert downloads == [
        (
            ("ai21labs/AI21-Jamba-Mini-1.6", "main", "runs/paper/resources/models/jamba-mini-1.6"),
            {"commit": jamba},
        )
    ]
    lock = yaml.safe_load((tmp_path / "paper.lock.yaml").read_text())["repos"]
    assert lock["models/ai21labs/AI21-Jamba-Mini-1.6"] == {"revision": "main", "commit": jamba}
    assert len(lock) == len(asked) == len(set(asked))  # every hub ref of the config locked, each asked once
    assert ("dataset", "cais/mmlu", "main") in asked
    # the second time the lock answers: the hub is not asked again
    assert main(command) == 0
    assert len(asked) == len(lock) and downloads[1] == downloads[0]

    # a gated repo without an accepted licence: a line naming it and the fix, no download, no lock
    (tmp_path / "paper.lock.yaml").unlink()
    downloads.clear()
    capsys.readouterr()

    def gated(self: object, repo_id: str, **kwargs: object) -> object:
        if repo_id.startswith("ai21labs/"):
            request = httpx.Request("GET", f"https://huggingface.co/api/models/{repo_id}/revision/main")
            raise GatedRepoError("403 gated", response=httpx.Response(403, request=request))
        return repo_info(self, repo_id, **kwargs)

    monkeypatch.setattr(huggingface_hub.HfApi, "repo_info", gated)
    assert main(command) == 2
    refused = [line for line in capsys.readouterr().err.splitlines() if "@main" in line]
    assert len(refused) == 1 and "model ai21labs/AI21-Jamba-Mini-1.6@main is gated" in refused[0]
    assert (
        "accept its licence at" in refused[0]
        and "/ai21labs/AI21-Jamba-Mini-1.6 with your account" in refused[0]
    )
    assert downloads == [] and not (tmp_path / "paper.lock.yaml").exists()
    assert sorted((REPO / "config").glob("*.lock.yaml")) == checkout_locks


def test_export_schema(tmp_path: Path) -> None:
    out = tmp_path / "schema.yaml"
    assert main(["export-schema", "--out", str(out)]) == 0
    assert out.read_text() == schema_yaml()


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["aggregate", "--results-dir", "results"], "no per-trial result files"),
        (["report", "--tables-dir", "results/tables", "--out", "r.html"], "no result table with rows"),
        (["paper", "--tables-dir", "results/tables", "--sources-only"], "no result table with rows"),
    ],
)
def test_reporting_on_nothing_exits_2(
    command: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # A fresh clone: no results yet. This used to exit 0 with ten NOT RUN claims and an empty report.
    (tmp_path / "results" / "tables").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert main([*command, "--config", str(REPO / "config" / "config.yaml")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists() and not (tmp_path / "results" / "claims.csv").exists()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from hybrid_retrieval import __version__

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.strip() == f"hybrid-retrieval {__version__}"


def test_missing_default_config_says_where_it_looked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # not the repository root: config/config.yaml is not here
    assert main(["train-toy", "--model", "toy-jamba"]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "run from the repository root" in err and "--config PATH" in err


def test_every_option_has_help_and_only_options_the_command_uses() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name, sub in commands.items():
        for action in sub._actions:
            assert action.help, f"{name} {action.option_strings} has no help text"
    options = {name: {o for a in sub._actions for o in a.option_strings} for name, sub in commands.items()}
    assert "--haystack-dir" not in options["mmlu"] and "--haystack-dir" in options["retrieval"]
    assert "--config" not in options["export-schema"]  # it never read one
    for name in ("retrieval", "sparsify", "head-scores", "record", "mmlu"):
        assert {"--device", "--limit"} <= options[name], name
