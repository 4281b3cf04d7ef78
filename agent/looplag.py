"""How late the event loop runs: the agent's own measure of stalls.

Everything in the agent shares one event loop (the forwarder's socket callbacks, the
drivers' polls, SQLite hand-offs), so a blocking call anywhere delays everything else:
an alarm's publish, a Modbus poll deadline, a systemd watchdog ping. The catalogue in
../shared/research/anchors-reliability.md §7 asks for no stall over 250 ms under
network faults (issue 16); this monitor is how that is measured in a running agent.

A task sleeps ``interval`` seconds at a time and records how much later than asked it
woke up. A wake-up later than ``stall_s`` is a stall: logged as a WARNING once when a
stall starts (not per sample; a transition), with the running maximum kept in
``LoopLag``. The summary line at shutdown (``event loop lag: …``) is what tests and
crews read; ``max_ms`` and ``stalls`` are there for a status page. Cost: one timer
wake-up per ``interval`` (0.25 s by default), nothing else.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class LoopLag:
    interval: float = 0.25
    stall_s: float = 0.25
    samples: int = 0
    max_ms: float = 0.0
    stalls: int = 0
    _in_stall: bool = False

    def observe(self, late_s: float) -> None:
        """Record one wake-up ``late_s`` seconds after it was due."""
        self.samples += 1
        self.max_ms = max(self.max_ms, late_s * 1000)
        stalled = late_s > self.stall_s
        if stalled and not self._in_stall:
            self.stalls += 1
            log.warning("event loop stalled: woke %.0f ms late", late_s * 1000)
        self._in_stall = stalled

    async def run(self) -> None:
        while True:
            due = time.monotonic() + self.interval
            await asyncio.sleep(self.interval)
            self.observe(max(0.0, time.monotonic() - due))

    def summary(self) -> str:
        return (
            f"event loop lag: max {self.max_ms:.0f} ms over {self.samples} samples, "
            f"{self.stalls} stalls over {self.stall_s * 1000:.0f} ms"
        )
