"""The ``gateway.buffer.*`` events the outbox says about itself (docs/events.md).

Built from the counters the store and its retention keep; all are alarm class, so that
the report of a loss can never itself be shed.
"""

from __future__ import annotations

from agent.events import Event, Priority, Severity


def dropped(counts: dict[str, int], totals: dict[str, int], *, source: str) -> Event:
    return Event(
        type="gateway.buffer.dropped",
        subject="buffer",
        data={"dropped": counts, "dropped_total": totals},
        priority=Priority.ALARM,
        severity=Severity.WARNING,
        source=source,
    )


def corrupt(quarantined_to: str, *, source: str) -> Event:
    return Event(
        type="gateway.buffer.corrupt",
        subject="buffer",
        data={
            "quarantined_to": quarantined_to,
            "detail": "the outbox file was unreadable or foreign; it was renamed "
            "aside and a new one created; event seq restarts at 1",
        },
        priority=Priority.ALARM,
        severity=Severity.CRITICAL,
        source=source,
    )
