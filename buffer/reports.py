"""The ``gateway.buffer.*`` events the outbox says about itself (docs/events.md).

Built from the counters the store and its retention keep; all are alarm class, so that
the report of a loss can never itself be shed. Their ``data`` models are registered in
the event contract (agent/event_types.py).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from agent.events import Event, EventData, Priority, Severity

Count = Annotated[int, Field(ge=0)]


class BufferDropped(EventData):
    """Rows shed by policy or aged out since the last report, by priority."""

    dropped: dict[str, Count] = Field(description="{telemetry, event}: since the last report.")
    dropped_total: dict[str, Count] = Field(description="The same, since the outbox was made.")
    dead_letters_dropped: Count = Field(description="Refused (dead-lettered) rows among them.")


class BufferCorrupt(EventData):
    """The outbox file was unreadable or foreign: renamed aside (never deleted), recreated."""

    quarantined_to: str
    detail: str


class BufferLost(EventData):
    """Committed events vanished (damaged WAL, truncated file): the seq range missing."""

    first_seq: Count
    last_seq: Count
    detail: str


class BufferDamaged(EventData):
    """Rows failed their checksum: dead-lettered, never forwarded."""

    rows: Count
    seqs: list[Count] = Field(description="Their seq numbers (at most 100).")
    reason: str


def dropped(counts: dict[str, int], totals: dict[str, int], *, dead: int, source: str) -> Event:
    """Shed or expired since the last report; ``dead``: dead-lettered rows among them."""
    return Event(
        type="gateway.buffer.dropped",
        subject="buffer",
        data=BufferDropped(
            dropped=counts, dropped_total=totals, dead_letters_dropped=dead
        ).to_data(),
        priority=Priority.ALARM,
        severity=Severity.WARNING,
        source=source,
    )


def corrupt(quarantined_to: str, *, source: str) -> Event:
    return Event(
        type="gateway.buffer.corrupt",
        subject="buffer",
        data=BufferCorrupt(
            quarantined_to=quarantined_to,
            detail="the outbox file was unreadable or foreign; it was renamed "
            "aside and a new one created; event seq continues above the last one issued",
        ).to_data(),
        priority=Priority.ALARM,
        severity=Severity.CRITICAL,
        source=source,
    )


def lost(first_seq: int, last_seq: int, *, source: str) -> Event:
    """Committed events vanished (WAL or file damage): the range the platform lacks."""
    return Event(
        type="gateway.buffer.lost",
        subject="buffer",
        data=BufferLost(
            first_seq=first_seq,
            last_seq=last_seq,
            detail="committed events were lost from the outbox file (damaged or "
            "deleted WAL, truncated file); seq continues above the lost range",
        ).to_data(),
        priority=Priority.ALARM,
        severity=Severity.CRITICAL,
        source=source,
    )


def damaged(rows: int, seqs: list[int], *, source: str) -> Event:
    """Rows failed their checksum: dead-lettered, never forwarded."""
    return Event(
        type="gateway.buffer.damaged",
        subject="buffer",
        data=BufferDamaged(rows=rows, seqs=seqs[:100], reason="checksum mismatch").to_data(),
        priority=Priority.ALARM,
        severity=Severity.CRITICAL,
        source=source,
    )
