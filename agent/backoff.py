"""The uplink's reconnect schedule: full-jitter exponential backoff with a short cap.

Why this shape (issue 19 item 5; the trade-off is in docs/operations.md, "Reconnecting
after an outage"):

* Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): each delay is
  drawn uniformly from ``[0, min(cap, base * 2**attempt)]``, so a fleet that lost the
  broker together does not come back in lock-step. The first retries are quick by
  construction (0.5 s, 1 s, 2 s ceilings with the default base).
* The cap decides how soon the first event arrives after the broker's return: once the
  ceiling is at the cap, the wait left when the broker comes back averages ``cap / 3``
  (the residual life of uniform delays). A 60 s cap meant ~20 s on average and up to
  60 s; the default 10 s cap means ~3.3 s. A larger fleet spreads its reconnects over a
  larger cap (``reconnect_max_s``), at that cost.
* An alarm waiting in the outbox skips the wait (``alarm_gap_left``): a life-safety event
  should not sit out a backoff drawn for routine telemetry. At most one such attempt per
  ``alarm_gap_s``, so a burst of alarms during a long outage cannot hammer the broker.
* The backoff restarts only after a connection that held ``stable_after_s``: a broker
  that accepts and then drops us at once must not be retried at the base delay forever.
* A broker that refused our credentials (bad password, not authorised, a client
  certificate it does not trust) will refuse them again until someone fixes them: those
  waits are drawn from ``[refused_s, 2 * refused_s]`` (``mqtt.refused_backoff_s``, 60 s by
  default), not the short network schedule, and a waiting alarm does not cut them short
  (no alarm gets through credentials the broker refuses): a fleet with a revoked
  certificate makes at most one attempt a minute per gateway (issue 14 item 7, issue 16
  item 4) instead of filling the broker's log with "not authorised" every few seconds.

Time and randomness are injected so tests check the schedule without waiting.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable


def full_jitter(
    attempt: int, *, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """A delay drawn uniformly from [0, min(cap, base * 2**attempt)]."""
    ceiling = min(cap, base * (2 ** min(attempt, 30)))
    return (rng or random).uniform(0, ceiling)


class ReconnectSchedule:
    """When to try the broker next. Call ``attempting`` as each connect starts,
    ``connected`` once it is up, and ``next_delay`` after it failed or dropped."""

    def __init__(
        self,
        *,
        cap: float,
        base: float = 0.5,
        refused_s: float = 60.0,
        stable_after_s: float = 30.0,
        alarm_gap_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.cap = cap
        self.base = base
        self.refused_s = refused_s
        self.stable_after_s = stable_after_s
        self.alarm_gap_s = alarm_gap_s
        self._clock = clock
        self._rng = rng or random.Random()
        self.attempt = 0
        self._up_since: float | None = None
        self._last_attempt: float | None = None

    def attempting(self) -> None:
        self._last_attempt = self._clock()

    def connected(self) -> None:
        self._up_since = self._clock()

    def next_delay(self, *, refused: bool = False) -> float:
        """The wait before the next attempt; ``refused``: the broker refused our credentials."""
        if refused:
            self._up_since = None
            return self._rng.uniform(self.refused_s, 2 * self.refused_s)
        if self._up_since is not None and self._clock() - self._up_since >= self.stable_after_s:
            self.attempt = 0
        self._up_since = None
        delay = full_jitter(self.attempt, base=self.base, cap=self.cap, rng=self._rng)
        self.attempt += 1
        return delay

    def alarm_gap_left(self) -> float:
        """How long an alarm waiting now must still wait (0: reconnect at once)."""
        if self._last_attempt is None:
            return 0.0
        return max(0.0, self.alarm_gap_s - (self._clock() - self._last_attempt))
