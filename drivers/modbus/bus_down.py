"""How long one bus has been down, measured so a wall-clock step cannot move its alarm.

Issue 16 item 3 (the clock jumping back and forward by hours). The hold before the
per-lift ``COMM_LOST`` alarms of a dead bus (drivers/modbus/driver.py) used to be wall
time against a wall-clock ``bus_down_since``. A step of the wall clock during an outage
moved the alarm by the step: back 6 h just after the bus went down and the driver slept
6 h more before reporting (an unwatched lift reported hours late); forward 3 h and it
reported at once, before the hold.

The rule now:

* **Within one agent process** the hold runs on the monotonic clock, from the first
  failure. The reference lives in the agent's shared resources (agent/driver.py
  ``SharedResources``), not in the driver object, so it survives the supervisor's
  rebuilds of the driver: the alarm comes exactly one hold after the bus went down,
  whatever the wall clock does meanwhile.
* **Across an agent restart** there is no monotonic reference, so the saved wall-clock
  ``bus_down_since`` (drivers/modbus/comm_state.py) gives the time already gone, clamped
  to ``[0, longest hold]``. A clock set back while the agent was stopped restarts the
  hold (the alarm comes one hold after the driver starts, never later) and the saved
  stamp is moved to now; a clock set forward can bring the alarm forward by at most one
  hold. The outage itself outlasted the agent's downtime, so nothing is reported late.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Clocks:
    """The driver's time sources; tests inject ones that step."""

    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time  # only to stamp the outage on disk
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


class BusDown:
    """Since when one bus is down, on the monotonic clock (None while it is up)."""

    def __init__(self, clocks: Clocks) -> None:
        self.clocks = clocks
        self._since: float | None = None

    @property
    def known(self) -> bool:
        """True once this process has seen the outage (its start is then exact)."""
        return self._since is not None

    def begin(self) -> float:
        """A new outage starts now: the wall-clock stamp to save."""
        self._since = self.clocks.monotonic()
        return self.clocks.wall()

    def resume(self, saved: float, longest_hold_s: float) -> float:
        """An outage saved by an earlier process: the wall-clock stamp to keep on disk.

        The time gone is the saved stamp's age, clamped to ``[0, longest_hold_s]``.
        """
        wall = self.clocks.wall()
        gone = min(max(0.0, wall - saved), longest_hold_s)
        self._since = self.clocks.monotonic() - gone
        return min(saved, wall)  # a stamp in the future (clock set back) becomes now

    def elapsed(self) -> float:
        assert self._since is not None, "begin() or resume() first"
        return self.clocks.monotonic() - self._since

    def clear(self) -> None:
        self._since = None
