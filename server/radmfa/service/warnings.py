"""Warnings that anybody who can reach a port could repeat without end
(dropped packets, forged callbacks, ignored upstream replies), logged at a
bounded rate so that a flood cannot fill the disk.

Two limits, both over ``interval_s``:
* per reason and source (a client's address): one line, when a source is
  given; its repeats are not logged (the drop counters count them);
* per reason, whatever the sources: ``per_interval`` lines (a flood from
  spoofed sources). Lines held back by this budget are counted, and the
  count rides on the next line written for that reason (``suppressed=N``).

Time is an argument (monotonic seconds), so the rules are tested without
waiting; the callers read the clock.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

MAX_SOURCES = 10_000  # remembered (reason, source) pairs; beyond, the memory starts afresh


class Throttle:
    def __init__(self, *, interval_s: float = 60.0, per_interval: int = 20) -> None:
        self.interval_s = interval_s
        self.per_interval = per_interval
        self._by_source: dict[tuple[str, str], float] = {}  # (reason, source) -> when last logged
        self._windows: dict[str, tuple[float, int]] = {}  # reason -> (window start, lines in it)
        self._suppressed: Counter[str] = Counter()

    def admit(self, reason: str, source: str = "", *, now: float) -> int | None:
        """None when this line is not to be logged; else how many lines the
        budget held back for ``reason`` since the last one logged."""
        key = (reason, source)
        if source and now - self._by_source.get(key, now - self.interval_s) < self.interval_s:
            return None
        start, lines = self._windows.get(reason, (now - self.interval_s, 0))
        if now - start >= self.interval_s:
            start, lines = now, 0
        if lines >= self.per_interval:
            self._suppressed[reason] += 1
            return None
        self._windows[reason] = (start, lines + 1)
        if source:
            if len(self._by_source) >= MAX_SOURCES:
                self._by_source.clear()
            self._by_source[key] = now
        return self._suppressed.pop(reason, 0)

    def suppressed(self, reason: str) -> int:
        """Lines held back for ``reason`` and not yet reported."""
        return self._suppressed[reason]

    def warning(self, log: Any, event: str, *, reason: str, source: str = "", now: float, **fields: Any) -> bool:
        """Log ``event`` as a warning if the limits allow; True when it was."""
        suppressed = self.admit(reason, source, now=now)
        if suppressed is None:
            return False
        log.warning(event, reason=reason, **fields, suppressed=suppressed)
        return True
