"""What the Snakemake workflow needs from the package: code digests, per-job logging, the scripts' opening.

`code_digest(*modules)` hashes the source files of the given modules and of every `hybrid_retrieval`
module they import (transitively, also imports inside functions), found by parsing, not importing, so
the Snakefile stays fast. A rule passes it as a `code=` param: Snakemake tracks a rule's script, not
the library the script calls, so without it an edit in `src/` would never rerun anything.

`job_log(path)` sends logging, warnings and stderr of a script to the rule's `log:` file and writes the
traceback of an exception there before re-raising it (no global exception hook is replaced).

`script_job(snakemake, numerics=...)` is the opening of every workflow script (workflow/scripts/_job.py puts
this checkout's src/ on sys.path and hands it on): the CPU numerics from the rule's `numerics` param, before
anything imports torch, then `job_log` on the rule's log.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import logging
import os
import sys
import traceback
import warnings
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from hybrid_retrieval.errors import HybridRetrievalError

PACKAGE = "hybrid_retrieval"
SRC_DIR = Path(__file__).resolve().parents[2]  # the directory holding the package (src/)


def module_file(module: str, src_dir: Path = SRC_DIR) -> Path | None:
    """The source file of a dotted `hybrid_retrieval` module name, or None when there is no such module."""
    base = src_dir.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path, module: str) -> set[str]:
    """Dotted names of the package modules `path` imports (a from-import may name a submodule)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against this module's package
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return {name for name in found if name == PACKAGE or name.startswith(PACKAGE + ".")}


@cache
def module_closure(modules: tuple[str, ...], src_dir: Path = SRC_DIR) -> tuple[Path, ...]:
    """Every source file the modules need: themselves, the package `__init__`s above them, and what
    they import from the package, transitively. Sorted, so the digest does not depend on walk order."""
    todo = list(modules)
    seen: dict[str, Path] = {}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = module_file(name, src_dir)
        if path is None:
            if name in modules:
                raise ModuleNotFoundError(f"no module {name!r} under {src_dir}; name a {PACKAGE} module")
            continue  # `from pkg import function`: the name is not a module
        seen[name] = path
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        todo.extend(_imports(path, name))
    return tuple(sorted(set(seen.values())))


def code_digest(*modules: str, shallow: tuple[str, ...] = (), src_dir: Path = SRC_DIR) -> str:
    """sha256 (16 hex chars) over the relative paths and bytes of `module_closure(modules)` plus the
    `shallow` modules' own files. Shallow is for glue that imports every stage (experiments.py): its
    own edits count, but a rule does not inherit the imports of stages it never calls."""
    paths = set(module_closure(tuple(sorted(modules)), src_dir))
    for name in shallow:
        path = module_file(name, src_dir)
        if path is None:
            raise ModuleNotFoundError(f"no module {name!r} under {src_dir}; name a {PACKAGE} module")
        paths.add(path)
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(src_dir)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _console_handlers() -> list[logging.StreamHandler]:
    """StreamHandlers on stderr that libraries attached to their own, non-propagating loggers (transformers
    does so at import: its kernel-fallback warnings bypassed the job's log and reached the console)."""
    consoles = {id(sys.stderr), id(sys.__stderr__)}
    found: dict[int, logging.StreamHandler] = {}  # one handler may serve several loggers
    for logger in [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)]:
        for handler in logger.handlers:
            if type(handler) is logging.StreamHandler and id(handler.stream) in consoles:
                found[id(handler)] = handler
    return list(found.values())


@contextlib.contextmanager
def job_log(path: str | os.PathLike[str] | None, level: int = logging.INFO) -> Iterator[logging.Logger]:
    """Inside: logging records, warnings and anything written to stderr go to `path` (appended; None =
    stay on stderr), also the records of library loggers that print to stderr through their own handler
    (transformers). An exception is logged with its traceback, then re-raised so the job fails."""
    if path is None:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        yield logging.getLogger(PACKAGE)
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    with open(path, "a", encoding="utf-8", buffering=1) as stream:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        old_level = root.level
        root.addHandler(handler)
        root.setLevel(level)
        logging.captureWarnings(True)
        redirected = [(library, library.setStream(stream)) for library in _console_handlers()]
        try:
            with contextlib.redirect_stderr(stream), warnings.catch_warnings():
                warnings.simplefilter("default")
                yield logging.getLogger(PACKAGE)
        except HybridRetrievalError as error:
            # a problem the user can fix (no GPU, hub refused, bad data): the traceback goes to the log,
            # the console gets one line
            stream.write(traceback.format_exc())
            raise SystemExit(f"error: {error}") from None
        except OSError as error:  # a read-only or full results/, a missing file: one line, path and fix
            from hybrid_retrieval.infra.fs_errors import describe_os_error

            stream.write(traceback.format_exc())
            raise SystemExit(f"error: {describe_os_error(error)}") from None
        except BaseException:
            stream.write(traceback.format_exc())
            raise
        finally:
            for library, old_stream in redirected:
                library.setStream(old_stream)
            logging.captureWarnings(False)
            root.removeHandler(handler)
            root.setLevel(old_level)


@contextlib.contextmanager
def script_job(snakemake: Any, *, numerics: bool = False) -> Iterator[Any]:
    """The opening of a workflow script: `with script_job(snakemake, numerics=True) as snakemake:` then the
    package imports and the one call. `numerics=True` (every script whose results depend on the CPU kernels)
    applies the rule's `numerics` param (`hybrid_retrieval.infra.numerics`) first, so the script must import the
    package's torch code inside the block; the param, not `snakemake.config`, so that a change of the
    setting reruns the job (Snakemake's params trigger). Inside: `job_log` on the rule's first log file."""
    if numerics:
        mode = snakemake.params.get("numerics")
        if mode is None:
            raise HybridRetrievalError(
                f"rule {snakemake.rule}: its script applies the CPU numerics but the rule has no `numerics` "
                "param; add `numerics=CFG.numerics` to its params (a change of the setting must rerun it)"
            )
        from hybrid_retrieval.infra.numerics import apply_numerics

        apply_numerics(mode, threads=snakemake.threads)
    with job_log(snakemake.log[0] if snakemake.log else None):
        yield snakemake
