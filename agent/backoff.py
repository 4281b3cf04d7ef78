"""The uplink's reconnect schedule: quick jittered retries growing to a cap, then
narrow-jitter draws near the cap while the outage lasts.

Why this shape (issue 19 item 5; the trade-off and the measured figures are in
docs/operations.md, "Reconnecting after an outage"):

* While the ceiling ``base * 2**attempt`` is below the cap, each delay is drawn uniformly
  from ``[0, ceiling]`` (full jitter, AWS architecture blog "Exponential Backoff And
  Jitter"): the first retries are quick (0.5, 1, 2, 4 s ceilings with the default base),
  so a blip costs a second or two, and a fleet that lost the broker together is spread
  out within those first draws instead of coming back in lock-step.
* Once the ceiling reaches the cap, delays are drawn from ``[cap / 3, cap]``. What a
  broker sees when it returns after a long outage is set by the fleet's attempt rate,
  N / mean delay per second, and what one gateway waits is the residual of its current
  delay. For the same mean delay (the same load on the broker), full jitter ``[0, c]``
  leaves a median wait of 0.59 x the mean and a p95 of 1.55 x; ``[c / 3, c]`` 0.5 x and
  1.18 x, the least a jittered schedule can do while its draws still spread a fleet by
  a third of the cap each. So the tail shrinks at no cost in load, and the cap alone
  sizes the trade-off: median wait ~cap / 3, never more than the cap, and the fleet's
  reconnects peak near 1.5 x N / cap per second (``reconnect_max_s``, 6 s by default).
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

# At the cap, delays are drawn from [cap * _AT_CAP_FLOOR, cap] (see the docstring).
_AT_CAP_FLOOR = 1 / 3


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
        delay = self.draw(self.attempt)
        self.attempt += 1
        return delay

    def draw(self, attempt: int) -> float:
        """The network delay for ``attempt`` (0 = the first retry after a disconnect):
        full jitter while the ceiling grows, ``[cap / 3, cap]`` once it reached the cap."""
        if self.base * (2 ** min(attempt, 30)) < self.cap:
            return full_jitter(attempt, base=self.base, cap=self.cap, rng=self._rng)
        return self._rng.uniform(self.cap * _AT_CAP_FLOOR, self.cap)

    def alarm_gap_left(self) -> float:
        """How long an alarm waiting now must still wait (0: reconnect at once)."""
        if self._last_attempt is None:
            return 0.0
        return max(0.0, self.alarm_gap_s - (self._clock() - self._last_attempt))
