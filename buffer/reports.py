"""The ``gateway.buffer.*`` events the outbox says about itself (docs/events.md).

Built from the counters the store and its retention keep; all are alarm class, so that
the report of a loss can never itself be shed.
"""

from __future__ import annotations

from agent.events import Event, Priority, Severity


def dropped(counts: dict[str, int], totals: dict[str, int], *, dead: int, source: str) -> Event:
    """Shed or expired since the last report; ``dead``: dead-lettered rows among them."""
    return Event(
        type="gateway.buffer.dropped",
        subject="buffer",
        data={"dropped": counts, "dropped_total": totals, "dead_letters_dropped": dead},
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
            "aside and a new one created; event seq continues above the last one issued",
        },
        priority=Priority.ALARM,
        severity=Severity.CRITICAL,
        source=source,
    )


def lost(first_seq: int, last_seq: int, *, source: str) -> Event:
    """Committed events vanished (WAL or file damage): the range the platform lacks."""
    return Event(
        type="gateway.buffer.lost",
        subject="buffer",
        data={
            "first_seq": first_seq,
            "last_seq": last_seq,
            "detail": "committed events were lost from the outbox file (damaged or "
            "deleted WAL, truncated file); seq continues above the lost range",
        },
        priority=Priority.ALARM,
        severity=Severity.CRITICAL,
        source=source,
    )


def damaged(rows: int, seqs: list[int], *, source: str) -> Event:
    """Rows failed their checksum: dead-lettered, never forwarded."""
    return Event(
        type="gateway.buffer.damaged",
        subject="buffer",
        data={"rows": rows, "seqs": seqs[:100], "reason": "checksum mismatch"},
        priority=Priority.ALARM,
        severity=Severity.CRITICAL,
        source=source,
    )
