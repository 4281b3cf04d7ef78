"""Builds the agent's live status (agent/status.py) from its parts: wiring, not base layer.

The backlog figures come from the outbox's writer thread (a count over the table), so
they are refreshed at most every ``backlog_every_s``, not on every status round.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from agent import __version__
from agent.forwarder import Forwarder
from agent.status import (
    BacklogStatus,
    DeviceBoard,
    DriverStatus,
    HealthReadings,
    StatusSnapshot,
    UplinkStatus,
)
from agent.supervisor import Supervisor
from buffer.outbox import Outbox

BACKLOG_EVERY_S = 5.0


class StatusCollector:
    def __init__(
        self,
        *,
        gateway_id: str,
        forwarder: Forwarder,
        outbox: Outbox,
        supervisor: Supervisor,
        board: DeviceBoard,
        broker: str,
    ) -> None:
        self._gw = gateway_id
        self._forwarder = forwarder
        self._outbox = outbox
        self._supervisor = supervisor
        self._board = board
        self._broker = broker
        # The gateway health source's latest readings, once the agent wires one.
        self.health: Callable[[], HealthReadings | None] = lambda: None
        self._backlog_every = BACKLOG_EVERY_S
        self._backlog = BacklogStatus()
        self._backlog_at: float | None = None
        self._started_at = time.time()

    async def _backlog_now(self) -> BacklogStatus:
        now = time.monotonic()
        if self._backlog_at is not None and now - self._backlog_at < self._backlog_every:
            return self._backlog
        stats = await self._outbox.stats()
        oldest = stats.oldest_pending_age_s
        self._backlog = BacklogStatus(
            pending=stats.pending,
            pending_bytes=stats.pending_bytes,
            bytes_by_priority=dict(stats.bytes_by_priority),
            dead_letters=stats.dead,
            # To the second: the same oldest row gives the same document.
            oldest_unsent_at=None if oldest is None else round(time.time() - oldest),
        )
        self._backlog_at = now
        return self._backlog

    async def collect(self) -> StatusSnapshot:
        fw = self._forwarder
        drivers = [
            DriverStatus(
                name=h.name,
                kind=h.kind,
                state=h.state,
                last_error=h.last_error,
                restarts=h.restarts,
                last_seen=None if h.last_seen is None else round(h.last_seen, 1),
            )
            for h in self._supervisor.health.values()
        ]
        return StatusSnapshot(
            gateway_id=self._gw,
            version=__version__,
            started_at=self._started_at,
            uplink=UplinkStatus(
                state=fw.uplink_state,
                reason=fw.uplink_reason,
                broker=self._broker,
                since=fw.uplink_since,
            ),
            backlog=await self._backlog_now(),
            drivers=drivers,
            devices=self._board.snapshot(),
            health=self.health() or HealthReadings(),
        )
