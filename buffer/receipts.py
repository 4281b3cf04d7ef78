"""Alarms awaiting the platform's receipt, and their escalations, in the outbox's database.

Why here and not in a file of its own: an alarm that needs a receipt is recorded in the
same transaction that stores it in the outbox (``OutboxStore.append``), so no crash can
leave an alarm sent but forgotten, or remembered but never stored. Its re-announcements
go back into the outbox table with the original payload (same ``id``, same ``seq``, same
bytes: the platform de-duplicates on ``id``, docs/events.md), so they are as durable as
the first copy and need no second delivery path.

Escalation rows (one per alarm and channel) walk ``due`` → ``sending`` → ``sent``, or
``failed`` (retried at ``next_try``). ``sending`` is committed *before* the modem is told
to send and ``sent`` after it answered, in the same transaction as the
``gateway.escalation.sent`` event. A row found ``sending`` after a restart is never sent
again: the agent died while the modem had the message, and a second SMS to a care
worker for one alarm is the failure this table exists to prevent (the trade-off is in
docs/escalation.md). Everything here runs on the outbox's writer thread.
"""

from __future__ import annotations

import fnmatch
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson

from agent.events import Event, Severity
from buffer.schema import PENDING, RECEIPTS_SCHEMA

__all__ = ["RECEIPTS_SCHEMA"]


STAGES = ("stored", "acknowledged")
_SEVERITY_RANK = {Severity.INFO.value: 0, Severity.WARNING.value: 1, Severity.CRITICAL.value: 2}
KEEP_RECEIPTED_S = 86_400.0  # receipted rows stay a day for ``buffer stats`` and audits


@dataclass(frozen=True, slots=True)
class ReceiptClass:
    """Alarms of this class need a receipt: ``type`` is a glob, ``min_severity`` a floor."""

    type: str
    min_severity: str = Severity.INFO.value
    keys: tuple[str, ...] = ()  # data["key"] values (SOS, FALL, ENTRAP_LEVEL…); empty: any

    def matches(self, event: Event) -> bool:
        if not fnmatch.fnmatchcase(event.type, self.type):
            return False
        if _SEVERITY_RANK[event.severity.value] < _SEVERITY_RANK[self.min_severity]:
            return False
        if self.keys and event.data.get("key") not in self.keys:
            return False
        # An episode's clear is not a new alarm to confirm.
        return event.data.get("state") not in ("cleared", "ended")


@dataclass(frozen=True, slots=True)
class ReceiptPolicy:
    classes: tuple[ReceiptClass, ...] = ()
    reannounce_s: float = 30.0

    def needs(self, event: Event) -> bool:
        # An escalation's own events never need a receipt (they would escalate in turn).
        if event.type.startswith("gateway.escalation."):
            return False
        return any(c.matches(event) for c in self.classes)


@dataclass(frozen=True, slots=True)
class Awaiting:
    event_id: str
    type: str
    subject: str
    severity: str
    data: str  # JSON text of the alarm's data (for the escalation text)
    created: float
    announced: int
    stage: str


@dataclass(frozen=True, slots=True)
class Escalation:
    event_id: str
    channel: str
    state: str
    attempts: int
    next_try: float
    reason: str | None
    reported: bool


@dataclass
class ReceiptCounts:
    applied: int = 0
    duplicate: int = 0
    unknown: int = 0
    malformed: int = 0
    by_stage: dict[str, int] = field(default_factory=dict)


def record(conn: sqlite3.Connection, event: Event, stored: tuple[int, str, bytes, int],
           now: float, policy: ReceiptPolicy) -> None:  # fmt: skip
    """Inside the append's transaction: remember an alarm that needs a receipt.

    ``stored`` is the outbox row's (seq, topic, payload, crc), kept to re-announce it."""
    seq, topic, payload, crc = stored
    data_json = orjson.dumps(event.data).decode()
    conn.execute(
        "INSERT OR IGNORE INTO awaiting (event_id, type, subject, severity, data, seq, "
        "priority, topic, payload, crc, created, next_announce) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (event.id, event.type, event.subject, event.severity.value, data_json, seq,
         int(event.priority), topic, payload, crc, now, now + policy.reannounce_s),
    )  # fmt: skip


def apply_receipt(conn: sqlite3.Connection, event_id: str, stage: str, by: str, now: float) -> str:
    """``applied``, ``duplicate`` (no news) or ``unknown`` (an id we never asked for)."""
    row = conn.execute("SELECT stage FROM awaiting WHERE event_id=?", (event_id,)).fetchone()
    if row is None:
        return "unknown"
    if row[0] == "acknowledged" or row[0] == stage:
        return "duplicate"  # acknowledged is final; a late 'stored' changes nothing
    conn.execute(
        "UPDATE awaiting SET stage=?, by=?, receipted=coalesce(receipted, ?) WHERE event_id=?",
        (stage, by, now, event_id),
    )
    return "applied"


def reannounce_due(
    conn: sqlite3.Connection, now: float, reannounce_s: float
) -> tuple[list[str], dict[int, int]]:
    """Put unreceipted alarms due again back into the outbox (same id, seq and bytes).

    An alarm whose previous copy is still pending (uplink down) is not copied twice: the
    one waiting is enough. Returns the re-announced ids and the bytes added by priority.
    """
    due = conn.execute(
        "SELECT event_id, seq, priority, topic, payload, crc FROM awaiting "
        "WHERE stage='none' AND next_announce<=?",
        (now,),
    ).fetchall()
    announced: list[str] = []
    added: dict[int, int] = {}
    for event_id, seq, prio, topic, payload, crc in due:
        waiting = conn.execute(
            "SELECT 1 FROM outbox WHERE event_id=? AND part=0", (event_id,)
        ).fetchone()
        if waiting is None:
            conn.execute(
                "INSERT INTO outbox (event_id, part, seq, priority, topic, payload, size, "
                "created, state, crc) VALUES (?, 0, ?, ?, ?, ?, ?, ?, ?, ?)",
                (event_id, seq, prio, topic, payload, len(payload), now, PENDING, crc),
            )
            added[prio] = added.get(prio, 0) + len(payload)
            announced.append(event_id)
        conn.execute(
            "UPDATE awaiting SET next_announce=?, announced=announced+? WHERE event_id=?",
            (now + reannounce_s, 1 if waiting is None else 0, event_id),
        )
    conn.execute(
        "DELETE FROM escalation WHERE event_id IN (SELECT event_id FROM awaiting "
        "WHERE stage!='none' AND receipted<?)",
        (now - KEEP_RECEIPTED_S,),
    )
    conn.execute(
        "DELETE FROM awaiting WHERE stage!='none' AND receipted<?", (now - KEEP_RECEIPTED_S,)
    )
    return announced, added


def awaiting(conn: sqlite3.Connection, *, older_than: float | None = None) -> list[Awaiting]:
    """Alarms with no receipt yet, oldest first (``older_than``: created before it)."""
    sql = (
        "SELECT event_id, type, subject, severity, data, created, announced, stage "
        "FROM awaiting WHERE stage='none'"
    )
    args: tuple[float, ...] = ()
    if older_than is not None:
        sql += " AND created<=?"
        args = (older_than,)
    return [Awaiting(*r) for r in conn.execute(sql + " ORDER BY created", args)]


def stage_of(conn: sqlite3.Connection, event_id: str) -> str | None:
    row = conn.execute("SELECT stage FROM awaiting WHERE event_id=?", (event_id,)).fetchone()
    return None if row is None else str(row[0])


def open_escalations(conn: sqlite3.Connection, channels: Sequence[str], now: float,
                     escalate_after_s: float) -> None:  # fmt: skip
    """Create a ``due`` row per channel for every alarm unreceipted for too long."""
    for alarm in awaiting(conn, older_than=now - escalate_after_s):
        for channel in channels:
            conn.execute(
                "INSERT OR IGNORE INTO escalation (event_id, channel, state, next_try, updated) "
                "VALUES (?, ?, 'due', ?, ?)",
                (alarm.event_id, channel, now, now),
            )


def escalations(conn: sqlite3.Connection, *, states: Sequence[str] | None = None,
                due_by: float | None = None) -> list[Escalation]:  # fmt: skip
    """Escalation rows, in alarm order; only of ``states`` / due by ``due_by`` if given."""
    sql = ("SELECT e.event_id, e.channel, e.state, e.attempts, e.next_try, e.reason, "
           "e.reported FROM escalation e JOIN awaiting a USING (event_id) WHERE 1=1")  # fmt: skip
    args: list[object] = []
    if states is not None:
        sql += f" AND e.state IN ({','.join('?' * len(states))})"
        args += list(states)
    if due_by is not None:
        sql += " AND e.next_try<=? AND a.stage='none'"
        args.append(due_by)
    rows = conn.execute(sql + " ORDER BY a.created, e.channel", args).fetchall()
    return [Escalation(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6])) for r in rows]


def set_escalation(conn: sqlite3.Connection, key: tuple[str, str], state: str, *,
                   now: float, next_try: float | None = None, reason: str | None = None,
                   reported: bool | None = None) -> None:  # fmt: skip
    """Move the (event_id, channel) row to ``state``."""
    event_id, channel = key
    conn.execute(
        # An attempt counts once: at ``sending``, or at ``failed`` when it failed before
        # reaching ``sending`` (the modem had no SIM, say).
        "UPDATE escalation SET attempts=attempts+(CASE WHEN ?='sending' OR "
        "(?='failed' AND state!='sending') THEN 1 ELSE 0 END), state=?, updated=?, "
        "next_try=coalesce(?, next_try), reason=coalesce(?, reason), "
        "reported=coalesce(?, reported) WHERE event_id=? AND channel=?",
        (state, state, state, now, next_try, reason,
         None if reported is None else int(reported), event_id, channel),
    )  # fmt: skip


def last_sent(conn: sqlite3.Connection, channel: str) -> float | None:
    """When ``channel`` last sent (or began to send) anything: the per-number rate limit."""
    row = conn.execute(
        "SELECT max(updated) FROM escalation WHERE channel=? AND state IN ('sent', 'sending')",
        (channel,),
    ).fetchone()
    return None if row is None or row[0] is None else float(row[0])
