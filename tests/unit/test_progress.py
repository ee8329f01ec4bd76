"""Progress lines of long jobs: count of total, rate, ETA; the first and last update always logged."""

from __future__ import annotations

import logging

import pytest

from hybrid_retrieval.infra.progress import Progress, duration


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_duration_reads_like_a_person_would_say_it() -> None:
    assert [duration(s) for s in (0.4, 42, 185, 7620)] == ["0 s", "42 s", "3 min 05 s", "2 h 07 min"]


def test_progress_logs_count_rate_eta_at_most_every_interval(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    progress = Progress("baseline on toy-jamba", 100, "rows", every=30, clock=clock)
    with caplog.at_level(logging.INFO, logger="hybrid_retrieval.infra.progress"):
        clock.now += 10
        progress.update(20)  # the first update: logged (the first rate)
        clock.now += 10
        progress.update(20)  # 10 s later: not logged
        clock.now += 25
        progress.update(20)  # 35 s after the last line: logged
        clock.now += 15
        progress.update(40)  # the last: logged, with the elapsed time instead of an ETA
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "baseline on toy-jamba: 20/100 rows (20%), 2.00 rows/s, ETA 40 s",
        "baseline on toy-jamba: 60/100 rows (60%), 1.33 rows/s, ETA 30 s",
        "baseline on toy-jamba: 100/100 rows (100%), 1.67 rows/s, done in 1 min 00 s",
    ]


def test_progress_without_a_rate_says_the_eta_is_unknown() -> None:
    clock = Clock()
    progress = Progress("x", 3, "sequences", clock=clock)
    assert progress.line() == "x: 0/3 sequences (0%), 0.00 sequences/s, ETA unknown"
