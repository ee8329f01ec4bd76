"""Filesystem errors at a job's entry are one line naming the path and the fix (before: a traceback, e.g.
`OSError: [Errno 30] Read-only file system: 'results/limit-3'` from `hybrid-retrieval retrieval`)."""

from __future__ import annotations

import errno
import pathlib

import pytest

from hybrid_retrieval.cli import main
from hybrid_retrieval.infra.fs_errors import describe_os_error
from hybrid_retrieval.infra.workflow_support import job_log


def test_write_errors_name_the_path_the_reason_and_the_fix(tmp_path, monkeypatch) -> None:
    (tmp_path / "results").mkdir()
    monkeypatch.chdir(tmp_path)
    readonly = OSError(errno.EROFS, "Read-only file system", "results/limit-3")
    assert describe_os_error(readonly) == (
        "cannot write results/limit-3: read-only file system; make results/ writable "
        "(or run from a copy of the checkout you can write to)"
    )
    full = OSError(errno.ENOSPC, "No space left on device", "results/x.parquet")
    assert describe_os_error(full).startswith("cannot write results/x.parquet: no space left")
    denied = PermissionError(errno.EACCES, "Permission denied", "results/tables/a.parquet")
    assert "give your user write access to results/" in describe_os_error(denied)
    missing = FileNotFoundError(errno.ENOENT, "No such file or directory", "results/tables")
    assert describe_os_error(missing).startswith("results/tables: no such file or directory")


def _read_only_mkdir(self, *args, **kwargs):
    raise OSError(errno.EROFS, "Read-only file system", str(self))


def test_cli_prints_one_line_for_a_read_only_folder(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    monkeypatch.setattr(pathlib.Path, "mkdir", _read_only_mkdir)
    assert main(["export-schema", "--out", "results/sub/schema.yaml"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "hybrid-retrieval export-schema: error: cannot write results/sub: read-only file system; "
        "make results/ writable (or run from a copy of the checkout you can write to)"
    ]


def test_a_workflow_job_ends_in_one_line_with_the_traceback_in_its_log(tmp_path) -> None:
    log = tmp_path / "logs" / "job.log"
    with pytest.raises(SystemExit) as ended, job_log(log):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / "results" / "x.parquet"))
    assert str(ended.value).startswith(f"error: cannot write {tmp_path / 'results' / 'x.parquet'}: read-only")
    assert "Traceback" in log.read_text()
