"""The CLI: every subcommand parses, package errors exit 2 with one line, export-schema writes the schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from hybrid_retrieval.cli import build_parser, main
from hybrid_retrieval.config import schema_yaml

REPO = Path(__file__).resolve().parents[2]
COMMANDS = [
    "train-toy", "download-model", "download-haystack", "retrieval", "sparsify", "head-scores",
    "mmlu", "record", "attention-maps", "aggregate", "report", "paper", "export-schema",
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


def test_unpinned_revision_is_refused_before_any_download(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(REPO)
    code = main(
        [
            "download-model",
            "--config",
            "config/paper.yaml",
            "--model",
            "jamba-mini-1.6",
            "--out",
            str(tmp_path / "m"),
        ]
    )
    assert code == 2
    # paper.yaml names the branch main: the CLI downloads only an exact commit (the workflow locks branches)
    assert "not a 40-hex commit sha" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


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
