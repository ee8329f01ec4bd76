"""One line for a filesystem error at a job's entry (the CLI, a workflow script), instead of a traceback.

`describe_os_error(err)` names the path, what the system said and the fix: a read-only `results/` ends in
"cannot write results/limit-3: read-only file system; make results/ writable (or run from a copy of the
checkout you can write to)". The traceback still goes to the job's log file.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

# errno -> (what, fix for the folder {folder})
_KNOWN = {
    errno.EROFS: (
        "read-only file system",
        "make {folder} writable (or run from a copy of the checkout you can write to)",
    ),
    errno.EACCES: (
        "permission denied",
        "give your user write access to {folder} (or run from a copy you own)",
    ),
    errno.EPERM: (
        "operation not permitted",
        "give your user write access to {folder} (or run from a copy you own)",
    ),
    errno.ENOSPC: ("no space left on the device", "free space on the disk holding {folder}, then rerun"),
    errno.EDQUOT: ("disk quota exceeded", "free space in your quota for {folder}, then rerun"),
}


def _folder(path: str) -> str:
    """The first existing folder at or above `path` (the one to fix), as given (relative stays relative)."""
    candidate = Path(path)
    for folder in (candidate, *candidate.parents):
        if folder.is_dir() and str(folder) not in ("", "."):
            return f"{folder}/"
    return f"{candidate.parent}/" if str(candidate.parent) not in ("", ".") else "the working directory"


def describe_os_error(err: OSError) -> str:
    """'cannot write <path>: <what>; <fix>' for write errors, '<path>: <what>' for the others."""
    path = os.fsdecode(err.filename) if err.filename is not None else None
    what = err.strerror or str(err)
    if err.errno in _KNOWN:
        what, fix = _KNOWN[err.errno]
        if path is None:
            return f"cannot write: {what}; {fix.format(folder='the output folder')}"
        return f"cannot write {path}: {what}; {fix.format(folder=_folder(path))}"
    if isinstance(err, FileNotFoundError) and path is not None:
        return f"{path}: no such file or directory; check the path (or run the step that writes it first)"
    return f"{path}: {what}" if path is not None else what
