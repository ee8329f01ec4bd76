"""One command line: every door of the package is a `hybrid-retrieval` subcommand, `hybrid-retrieval --help`
lists them all, each subcommand's `--help` works (a tool's is its own parser's), and the tools keep their
exit statuses (check-reference: 2 when the check cannot run)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from hybrid_retrieval.cli import TOOLS, build_parser, main

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "src" / "hybrid_retrieval"
SMOKE = str(REPO / "config" / "smoke.yaml")
# Modules with a `__main__` block that are not a tool door here, and why.
NOT_TOOLS = {
    "cli": "the command line itself",
    "config": "its --export-schema is `hybrid-retrieval export-schema`",
}


def _subcommands() -> list[str]:
    return list(next(a for a in build_parser()._actions if a.dest == "command").choices)


def _modules_with_main() -> set[str]:
    found = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
                parts = path.relative_to(PACKAGE).with_suffix("").parts
                found.add(".".join(parts[:-1] if parts[-1] in ("__init__", "__main__") else parts))
    return found


def test_the_rehearsal_tooling_is_outside_the_package() -> None:
    assert not (PACKAGE / "standins.py").exists() and not (PACKAGE / "rehearsal.py").exists()
    assert (REPO / "tools" / "rehearsal" / "standins.py").is_file()
    for path in PACKAGE.rglob("*.py"):  # the product never reaches into its test tooling
        text = path.read_text(encoding="utf-8")
        assert "import standins" not in text and "import rehearsal" not in text, path


def test_every_module_with_a_main_is_a_subcommand() -> None:
    doors = {module.removeprefix("hybrid_retrieval.") for module, _, _ in TOOLS.values()}
    missing = _modules_with_main() - doors - set(NOT_TOOLS)
    assert not missing, f"modules with a __main__ but no hybrid-retrieval subcommand: {sorted(missing)}"
    assert set(TOOLS) <= set(_subcommands())
    assert {"glue", "download-dataset", "lock", "check-reference", "config-docs", "claims-design"} <= set(
        TOOLS
    ) | set(_subcommands())


def test_help_lists_every_subcommand() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hybrid_retrieval.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    listed = {line.split()[0] for line in out.splitlines() if line.startswith("    ") and line.split()}
    assert set(_subcommands()) <= listed, sorted(set(_subcommands()) - listed)


@pytest.mark.parametrize("name", _subcommands())
def test_every_subcommand_help_works(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        status = main([name, "--help"])
    except SystemExit as exit_:
        status = exit_.code
    out = capsys.readouterr().out
    assert status == 0 and out.startswith(f"usage: hybrid-retrieval {name} "), out[:200]


def test_a_tool_keeps_its_exit_status_and_options(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["check-reference", "--config", str(tmp_path / "typo.yaml")]) == 2
    assert "typo.yaml" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:  # an option of another command is still refused
        main(["aggregate", "--refresh"])
    assert exit_.value.code == 2 and "unrecognized arguments: --refresh" in capsys.readouterr().err


def test_glue_without_its_dataset_names_the_download_step(
    capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    argv = ["glue", "--config", SMOKE, "--model", "toy-jamba", "--model-dir", str(tmp_path), "--task", "rte"]
    assert main([*argv, "--k", "H", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "download-dataset --dataset glue" in err and len(err.strip().splitlines()) == 1


def test_download_dataset_of_a_dataset_the_config_does_not_read(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["download-dataset", "--config", SMOKE, "--dataset", "mmlu"]) == 2  # smoke: the toy MC set
    assert "no hub dataset for mmlu" in capsys.readouterr().err


def test_download_model_by_repo_id_needs_a_commit(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    argv = ["download-model", "--repo-id", "org/model", "--revision", "main", "--out", str(tmp_path / "m")]
    assert main(argv) == 2  # a branch without a config to lock it: refused before any download
    assert "not a 40-hex commit sha" in capsys.readouterr().err and not (tmp_path / "m").exists()


@pytest.mark.parametrize("command", ["mmlu", "glue"])
def test_k_that_is_no_head_count_is_refused_by_the_parser(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [command, "--config", SMOKE, "--model", "toy-jamba", "--k", "x"]
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--task", "rte"] if command == "glue" else argv)
    assert exit_.value.code == 2 and "'x' is not a head count" in capsys.readouterr().err
