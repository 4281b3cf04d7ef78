"""The broker's refusals: verdicts reported once a minute, busy refusals waited out.

Split from agent/forwarder.py. A refused publish is dead-lettered (kept, never deleted:
``edge-agent buffer requeue-dead`` sends it again once the broker is fixed), and the
platform has to hear that events are being kept from it. An ACL that denies everything
would refuse every event, so refusals are counted and reported at most once per
interval, and a report the broker refuses in turn is not reported again (it would be
one more alarm per interval, forever). A broker that is only busy (0x80, 0x83, 0x97
quota exceeded) has given no verdict on the message: the row stays pending and the
forwarder waits, with growing jittered pauses, before it sends more.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from agent.backoff import full_jitter
from agent.events import Event, Priority, Severity
from agent.gateway_events import ForwardRejected

log = logging.getLogger("agent.forwarder")

REPORT_INTERVAL_S = 60.0


class RejectReporter:
    """Counts refusals and emits ``gateway.forward.rejected`` at most once per interval."""

    def __init__(self, report: Callable[[Event], Any] | None) -> None:
        self._report = report
        self._since_report = 0
        self._last_report = 0.0
        self.report_ids: deque[str] = deque(maxlen=64)  # our own reports, by event id

    async def refused(self, n: int, reason: str, dead_lettered_total: int) -> None:
        self._since_report += n
        now = time.monotonic()
        if now - self._last_report < REPORT_INTERVAL_S:
            return
        self._last_report = now
        count, self._since_report = self._since_report, 0
        log.error("broker refused %d publishes (last: %s); kept as dead letters", count, reason)
        if self._report is None:
            return
        event = Event(
            type="gateway.forward.rejected",
            subject="forwarder",
            data=ForwardRejected(
                rejected=count, last_reason=reason, dead_lettered_total=dead_lettered_total
            ).to_data(),
            priority=Priority.ALARM,
            severity=Severity.CRITICAL,
        )
        self.report_ids.append(event.id)
        try:
            await self._report(event)
        except Exception as exc:  # a full outbox must not stop forwarding
            log.error("could not store the rejection report: %s", exc)


class BusyBackoff:
    """Growing jittered pauses while the broker refuses for now; reset by progress."""

    def __init__(self, base_s: float = 0.2, cap_s: float = 10.0) -> None:
        self._base_s, self._cap_s = base_s, cap_s
        self._attempt = 0

    async def after(self, transient: int, *, progressed: bool) -> None:
        if not transient:
            if progressed:
                self._attempt = 0
            return
        delay = full_jitter(self._attempt, base=self._base_s, cap=self._cap_s)
        self._attempt += 1
        log.debug("broker refused %d publishes for now; retrying in %.1f s", transient, delay)
        await asyncio.sleep(delay)
