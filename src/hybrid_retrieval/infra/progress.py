"""A long job's progress in its log: count, rate and ETA while it runs, then one closing result line.

    progress = Progress("baseline on toy-jamba", total=480, unit="rows")
    for batch in batches:
        ...
        progress.update(len(batch))   # "baseline on toy-jamba: 40/480 rows (8%), 3.1 rows/s, ETA 2 min 22 s"

Lines go to the `hybrid_retrieval` logger, which `workflow_support.job_log` sends to the rule's log file
(tail -f it). The first update is logged (the first rate), then at most one every `every` seconds, and the
last (count = total). No line is printed with carriage returns: a log file stays one line per record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger("hybrid_retrieval.infra.progress")


def duration(seconds: float) -> str:
    """'42 s', '3 min 05 s', '2 h 07 min'."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Progress:
    """Counts work done out of `total` and logs "label: done/total unit (pct), rate unit/s, ETA ..."."""

    def __init__(
        self,
        label: str,
        total: int,
        unit: str,
        *,
        every: float = 30.0,
        logger: logging.Logger = log,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label, self.total, self.unit, self.every = label, max(0, int(total)), unit, every
        self.logger, self.clock = logger, clock
        self.done = 0
        self.start = clock()
        self._last_logged: float | None = None

    def line(self) -> str:
        elapsed = self.clock() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        pct = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        left = self.total - self.done
        eta = duration(left / rate) if rate > 0 else "unknown"
        tail = f"ETA {eta}" if left > 0 else f"done in {duration(elapsed)}"
        return f"{self.label}: {self.done}/{self.total} {self.unit}{pct}, {rate:.2f} {self.unit}/s, {tail}"

    def update(self, n: int = 1) -> None:
        self.done += n
        now = self.clock()
        finished = self.done >= self.total
        if finished or self._last_logged is None or now - self._last_logged >= self.every:
            self._last_logged = now
            self.logger.info(self.line())

    @property
    def elapsed(self) -> float:
        return self.clock() - self.start
