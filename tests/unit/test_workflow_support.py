"""code_digest follows the package's imports (so a src/ edit reruns the right rules) and job_log sends
logging, stderr and tracebacks to the rule's log."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from hybrid_retrieval.infra.workflow_support import code_digest, job_log, module_closure


def _package(root: Path) -> Path:
    pkg = root / "hybrid_retrieval"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub/__init__.py").write_text("")
    (pkg / "base.py").write_text("X = 1\n")
    (pkg / "sub/leaf.py").write_text("def f():\n    from hybrid_retrieval import base  # lazy import\n")
    (pkg / "top.py").write_text("from .sub import leaf\nimport json\n")
    (pkg / "other.py").write_text("Y = 2\n")
    return pkg


def test_closure_follows_relative_lazy_and_package_imports(tmp_path: Path) -> None:
    pkg = _package(tmp_path)
    files = {p.relative_to(tmp_path).as_posix() for p in module_closure(("hybrid_retrieval.top",), tmp_path)}
    assert files == {
        "hybrid_retrieval/__init__.py",
        "hybrid_retrieval/top.py",
        "hybrid_retrieval/sub/__init__.py",
        "hybrid_retrieval/sub/leaf.py",
        "hybrid_retrieval/base.py",
    }
    assert pkg.is_dir()


def test_digest_changes_only_with_modules_in_the_closure(tmp_path: Path) -> None:
    pkg = _package(tmp_path)
    module_closure.cache_clear()
    before = code_digest("hybrid_retrieval.top", src_dir=tmp_path)
    (pkg / "other.py").write_text("Y = 3\n")
    assert code_digest("hybrid_retrieval.top", src_dir=tmp_path) == before
    (pkg / "base.py").write_text("X = 2\n")
    assert code_digest("hybrid_retrieval.top", src_dir=tmp_path) != before


def test_shallow_modules_count_their_own_file_only(tmp_path: Path) -> None:
    pkg = _package(tmp_path)
    before = code_digest("hybrid_retrieval.other", shallow=("hybrid_retrieval.top",), src_dir=tmp_path)
    (pkg / "base.py").write_text("X = 5\n")  # imported by top, but top is shallow
    assert (
        code_digest("hybrid_retrieval.other", shallow=("hybrid_retrieval.top",), src_dir=tmp_path) == before
    )
    (pkg / "top.py").write_text("from .sub import leaf\n")
    assert (
        code_digest("hybrid_retrieval.other", shallow=("hybrid_retrieval.top",), src_dir=tmp_path) != before
    )


def test_unknown_module_is_an_error(tmp_path: Path) -> None:
    _package(tmp_path)
    with pytest.raises(ModuleNotFoundError, match="hybrid_retrieval.nope"):
        code_digest("hybrid_retrieval.nope", src_dir=tmp_path)


def test_real_rules_have_distinct_digests() -> None:
    assert code_digest("hybrid_retrieval.report.figures") != code_digest("hybrid_retrieval.models.toy")


def test_job_log_captures_logging_stderr_and_traceback(tmp_path: Path) -> None:
    log_file = tmp_path / "logs/rule/x.log"
    with pytest.raises(ValueError, match="boom"):
        with job_log(log_file):
            logging.getLogger("hybrid_retrieval.test").info("hello from logging")
            print("to stderr", file=sys.stderr)
            raise ValueError("boom")
    text = log_file.read_text()
    assert "hello from logging" in text and "to stderr" in text
    assert "Traceback" in text and "ValueError: boom" in text
    assert not any(getattr(h, "stream", None) and h.stream.closed for h in logging.getLogger().handlers)


def test_job_log_takes_library_console_handlers(tmp_path: Path, capsys) -> None:
    # transformers logs through its own non-propagating logger with a StreamHandler on stderr, made at
    # import: its kernel-fallback warning reached the console 13 times per toy run instead of the job log.
    import logging
    import sys

    library = logging.getLogger("some_library_with_own_handler")
    library.propagate = False
    handler = logging.StreamHandler(sys.stderr)
    library.addHandler(handler)
    try:
        with job_log(tmp_path / "job.log"):
            library.warning("kernel falls back to the reference implementation")
        assert "kernel falls back" in (tmp_path / "job.log").read_text()
        assert "kernel falls back" not in capsys.readouterr().err
        library.warning("after the job")  # the handler is given back its console stream
        assert "after the job" in capsys.readouterr().err
    finally:
        library.removeHandler(handler)
