"""What the outbox hands out: rows to publish, its figures, and its one hard failure.

Split from buffer/store.py (which owns the SQL) so the forwarder, ``buffer stats`` and the
tests can name these types without reading the store; store.py re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.events import Priority


class BufferFullError(Exception):
    """The disk is full even after shedding everything the policy allows to shed."""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One publishable row, as the forwarder needs it."""

    id: int
    event_id: str
    part: int
    seq: int
    priority: Priority
    topic: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class OutboxStats:
    pending: int
    pending_bytes: int
    dead: int
    bytes_by_priority: dict[str, int]
    dropped: dict[str, int]
    last_seq: int
    oldest_pending_age_s: float | None
    quarantined: str | None
    # Alarms awaiting the platform's receipt (filled by buffer/inspect.py for crews).
    awaiting_receipt: list[dict[str, object]] = field(default_factory=list)

