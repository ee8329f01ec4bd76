"""A problem the user can fix (no usable GPU, hub refused, bad data) ends a rule's script with one line
on the console, not a traceback; the traceback still goes to the rule's log."""

from __future__ import annotations

from pathlib import Path

import pytest

from hybrid_retrieval.infra.workflow_support import job_log


def test_user_errors_are_one_line_with_the_traceback_in_the_log(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    from hybrid_retrieval.models.loading import check_device

    log_file = tmp_path / "job.log"
    with pytest.raises(SystemExit) as info:
        with job_log(log_file):
            check_device("cuda")
    message = str(info.value.code)
    assert message.startswith("error: device 'cuda' is configured but") and "\n" not in message
    assert "Traceback" in log_file.read_text() and "DeviceError" in log_file.read_text()


def test_other_errors_keep_their_traceback(tmp_path: Path) -> None:
    with pytest.raises(KeyError):
        with job_log(tmp_path / "job.log"):
            raise KeyError("bug")
