"""Read-only inspection of an outbox file, for the crews' ``buffer stats``.

A crew member runs ``edge-agent buffer stats`` next to a running agent, or on a gateway
whose buffer is in trouble. Opening the file through :class:`buffer.store.OutboxStore`
would take a write lock, run migrations and, on a damaged file, move it aside: an
inspection must change nothing. This module opens the file with SQLite's read-only URI
(``mode=ro``), reads the same figures the live store reports, lists the alarms still
awaiting the platform's receipt with their ages and escalations (buffer/receipts.py),
and raises :class:`InspectError` with a plain reason when the file is not a readable
outbox.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from agent.events import Priority
from buffer.retention import SHEDDABLE
from buffer.schema import APPLICATION_ID, DEAD, PENDING
from buffer.store import OutboxStats


class InspectError(Exception):
    """The file is missing, not SQLite, not an outbox, or cannot be read now."""


def read_stats(path: Path) -> OutboxStats:
    """The outbox's figures, read without writing, locking for long or migrating."""
    if not path.is_file():
        raise InspectError(f"no outbox at {path}")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error as exc:
        raise InspectError(f"cannot open {path}: {exc}") from exc
    try:
        return _stats(conn, path)
    except sqlite3.DatabaseError as exc:
        raise InspectError(f"cannot read {path}: {exc}") from exc
    finally:
        conn.close()


def _stats(conn: sqlite3.Connection, path: Path) -> OutboxStats:
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    if app_id != APPLICATION_ID:
        raise InspectError(f"{path} is not an edge-agent outbox (application_id {app_id:#x})")
    pending, pending_bytes, oldest = conn.execute(
        "SELECT count(*), coalesce(sum(size),0), min(created) FROM outbox WHERE state=?",
        (PENDING,),
    ).fetchone()
    dead = conn.execute("SELECT count(*) FROM outbox WHERE state=?", (DEAD,)).fetchone()[0]
    by_priority = dict.fromkeys((p.label for p in Priority), 0)
    for prio, total in conn.execute(
        "SELECT priority, coalesce(sum(size), 0) FROM outbox GROUP BY priority"
    ):
        by_priority[Priority(prio).label] = int(total)
    dropped = {p.label: 0 for p in SHEDDABLE}
    for key, value in conn.execute("SELECT key, value FROM meta WHERE key LIKE 'dropped.%'"):
        dropped[key.removeprefix("dropped.")] = int(value)
    row = conn.execute("SELECT value FROM meta WHERE key='seq'").fetchone()
    return OutboxStats(
        pending=int(pending),
        pending_bytes=int(pending_bytes),
        dead=int(dead),
        bytes_by_priority=by_priority,
        dropped=dropped,
        last_seq=int(row[0]) if row else 0,
        oldest_pending_age_s=(time.time() - oldest) if oldest is not None else None,
        quarantined=None,
        awaiting_receipt=awaiting_receipt(conn),
    )


def awaiting_receipt(conn: sqlite3.Connection) -> list[dict[str, object]]:
    """Alarms with no receipt yet, oldest first, with their ages and escalations."""
    has = conn.execute("SELECT 1 FROM sqlite_master WHERE name='awaiting'").fetchone()
    if has is None:
        return []  # a file from before schema v4 (read-only: never migrated here)
    now = time.time()
    escalations: dict[str, dict[str, str]] = {}
    for event_id, channel, state in conn.execute(
        "SELECT event_id, channel, state FROM escalation ORDER BY channel"
    ):
        escalations.setdefault(event_id, {})[channel] = state
    out: list[dict[str, object]] = []
    for event_id, etype, subject, created, announced in conn.execute(
        "SELECT event_id, type, subject, created, announced FROM awaiting "
        "WHERE stage='none' ORDER BY created"
    ):
        out.append({"id": event_id, "type": etype, "subject": subject,
                    "age_s": round(now - created, 1), "announced": announced,
                    "escalations": escalations.get(event_id, {})})  # fmt: skip
    return out
