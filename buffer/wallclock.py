"""The outbox's wall clock, and the steps it takes while the agent runs.

Issue 16 item 3 (the clock jumping back and forward by hours). The outbox stamps each row
with wall-clock time (``created``) because age limits (``max_age_s``) must survive
restarts, and the monotonic clock does not survive a reboot. But a wall clock can step: a
Raspberry Pi without an RTC, NTP correcting a large offset, an operator's ``date -s``. A
step forward of 3 h with ``max_age_s`` of 1 h would age out events minutes old; a step
back would keep them past their limit. So the retention code asks, before every append
and every expiry run, how far the wall clock stepped against the monotonic clock since it
last moved them (:meth:`WallClock.step`), and moves the stored ``created`` stamps by as much:
ages stay the time rows actually spent in the buffer. Slewing (NTP's gradual correction)
is below ``tolerance_s`` per call and is applied once it adds up to that.

A step while the agent is not running is not seen (there is no monotonic reference across
a restart); the ``clocksync`` attribute and the ``synced`` column cover the common case
of that, a Pi booting with a wrong clock (buffer/retention.py, docs/events.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable


class WallClock:
    """Wall time for stamping rows; ``step`` says how far it jumped since last asked."""

    def __init__(
        self,
        wall: Callable[[], float] = time.time,
        mono: Callable[[], float] = time.monotonic,
        tolerance_s: float = 5.0,
    ) -> None:
        self._wall = wall
        self._mono = mono
        self.tolerance_s = tolerance_s
        self._offset = wall() - mono()

    def now(self) -> float:
        return self._wall()

    def step(self) -> float:
        """Seconds the wall clock stepped against the monotonic clock since the last
        :meth:`followed` (0.0 while the drift stays under ``tolerance_s``)."""
        jumped = (self._wall() - self._mono()) - self._offset
        return jumped if abs(jumped) >= self.tolerance_s else 0.0

    def followed(self, step: float) -> None:
        """``step`` is applied to what was stamped (committed): measure from here on."""
        self._offset += step
