"""The SQLite outbox itself: synchronous, owned by exactly one thread.

This is the only module that imports sqlite-utils. Everything here runs on the writer
thread of :class:`buffer.outbox.Outbox`; sqlite connections are bound to the thread that
opened them, so nothing else may touch ``OutboxStore``.

Rows are events (``part`` 0) and their binary attachments (``part`` 1..n). The
gateway-wide event sequence number is kept in ``meta`` so that attachments and deleted
rows never leave gaps in it, and it survives restarts.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from agent.events import (
    Event,
    Priority,
    Severity,
    attachment_topic_suffix,
    encode_cloudevent,
    event_topic_suffix,
)
from buffer.config import BufferConfig

log = logging.getLogger(__name__)

# "EDGE" — marks files created by this agent, so a foreign SQLite file is recognised.
APPLICATION_ID = 0x45444745
SCHEMA_VERSION = 2

PENDING = 0
DEAD = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    TEXT    NOT NULL,
    part        INTEGER NOT NULL DEFAULT 0,
    seq         INTEGER NOT NULL,
    priority    INTEGER NOT NULL,
    topic       TEXT    NOT NULL,
    payload     BLOB    NOT NULL,
    size        INTEGER NOT NULL,
    created     REAL    NOT NULL,
    state       INTEGER NOT NULL DEFAULT 0,
    reason      TEXT,
    synced      INTEGER NOT NULL DEFAULT 1,
    UNIQUE (event_id, part)
);
CREATE INDEX IF NOT EXISTS outbox_send ON outbox (state, priority DESC, id);
CREATE INDEX IF NOT EXISTS outbox_shed ON outbox (priority, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

_SHEDDABLE = (Priority.TELEMETRY, Priority.EVENT)


class BufferFullError(Exception):
    """The disk is full even after shedding everything the policy allows to shed."""


class _UnusableFile(sqlite3.DatabaseError):
    """Our own checks found the file foreign, damaged or of an unknown schema."""


# Only these mean the file itself is bad. Anything else (locked, read-only, permission
# denied, a full disk) is a problem of the moment: renaming the file aside would
# "lose" a healthy backlog, so those errors propagate and the agent retries.
_DAMAGED = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _file_is_damaged(exc: sqlite3.DatabaseError) -> bool:
    if isinstance(exc, _UnusableFile):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in _DAMAGED


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


def _id_chunks(ids: Sequence[int], size: int = 500) -> Iterator[tuple[list[int], str]]:
    """``ids`` in chunks for ``WHERE id IN (…)``, each with its ``?,?,…`` placeholders
    (SQLite caps the number of bound parameters per statement)."""
    for start in range(0, len(ids), size):
        chunk = list(ids[start : start + size])
        yield chunk, ",".join("?" * len(chunk))


def _is_disk_full(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "full" in str(exc)


class OutboxStore:
    """Append, read by priority then order, delete acknowledged, shed by policy."""

    def __init__(self, config: BufferConfig, *, source: str, clock_synced: Any = None) -> None:
        self._config = config
        self._source = source
        self._clock_synced = clock_synced or (lambda: False)
        self.quarantined: str | None = None
        self._db = self._open()
        self._bytes = self._load_bytes()
        self._dropped_since_report = dict.fromkeys(_SHEDDABLE, 0)
        self._last_report = 0.0
        self._last_expiry = time.monotonic()
        self._over_cap = False
        if self.quarantined is not None:
            self._append_internal(
                Event(
                    type="gateway.buffer.corrupt",
                    subject="buffer",
                    data={
                        "quarantined_to": self.quarantined,
                        "detail": "the outbox file was unreadable or foreign; it was renamed "
                        "aside and a new one created; event seq restarts at 1",
                    },
                    priority=Priority.ALARM,
                    severity=Severity.CRITICAL,
                    source=self._source,
                )
            )

    # -- opening ---------------------------------------------------------------------

    def _open(self) -> sqlite_utils.Database:
        path = self._config.path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return self._open_checked(path)
        except sqlite3.DatabaseError as exc:
            if not _file_is_damaged(exc):
                raise
            self.quarantined = str(self._quarantine(path))
            log.error(
                "buffer %s is unusable (%s); renamed to %s, starting a new one",
                path,
                exc,
                self.quarantined,
            )
            return self._open_checked(path)

    def _open_checked(self, path: Path) -> sqlite_utils.Database:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=True)
        try:
            self._pragmas(conn)
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if app_id not in (0, APPLICATION_ID) or (app_id == 0 and tables):
                raise _UnusableFile(f"foreign SQLite file (application_id={app_id})")
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise _UnusableFile(f"integrity check failed: {check}")
            if app_id == 0:
                conn.executescript(_SCHEMA)
                conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 1:
                # v2 marks rows written while the clock was unsynchronised (see expire()).
                conn.execute("ALTER TABLE outbox ADD COLUMN synced INTEGER NOT NULL DEFAULT 1")
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                version = SCHEMA_VERSION
            if version != SCHEMA_VERSION:
                raise _UnusableFile(f"unknown outbox schema version {version}")
        except BaseException:
            conn.close()
            raise
        return sqlite_utils.Database(conn)

    def _pragmas(self, conn: sqlite3.Connection) -> None:
        # Set on every open: only journal_mode persists in the file. busy_timeout first,
        # so that switching the journal mode waits for (say) a crew's sqlite3 shell
        # instead of failing at once.
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._config.synchronous}")
        conn.execute("PRAGMA journal_size_limit=8388608")
        conn.execute("PRAGMA foreign_keys=ON")
        if self._config.max_file_bytes is not None:
            page = conn.execute("PRAGMA page_size").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count={self._config.max_file_bytes // page}")

    @staticmethod
    def _quarantine(path: Path) -> Path:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = path.with_name(f"{path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
            n += 1
        path.rename(target)
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                side.rename(target.with_name(target.name + suffix))
        return target

    @property
    def conn(self) -> sqlite3.Connection:
        return self._db.conn

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT; roll back unless SQLite already did (SQLITE_FULL)."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _load_bytes(self) -> dict[Priority, int]:
        out = dict.fromkeys(Priority, 0)
        for prio, total in self.conn.execute(
            "SELECT priority, coalesce(sum(size), 0) FROM outbox GROUP BY priority"
        ):
            out[Priority(prio)] = int(total)
        return out

    def close(self) -> None:
        try:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self._db.close()

    # -- appending -------------------------------------------------------------------

    def append(self, events: Sequence[Event]) -> list[int]:
        """Store ``events`` in one transaction; return their seq numbers.

        On a full disk, sheds telemetry, then events, in growing steps until the new
        events fit (an alarm displaces as much as it needs); raises
        :class:`BufferFullError` only when nothing shed-able is left.
        """
        step = 0
        while True:
            try:
                seqs = self._append_tx(events)
            except sqlite3.OperationalError as exc:
                if not _is_disk_full(exc):
                    raise
                if step == 0:
                    log.warning("buffer disk full while appending %d events", len(events))
                if not self._shed_for_disk(step):
                    raise BufferFullError(
                        f"disk full: {len(events)} events not stored after shedding "
                        "all telemetry and events"
                    ) from exc
                step += 1
                continue
            break
        try:
            self._after_append()
        except sqlite3.Error as exc:
            # The events are committed: shedding or expiry failing now must not turn
            # their append into an error (the producer would retry and duplicate them).
            log.error("buffer housekeeping after an append failed: %s", exc)
        return seqs

    def _append_internal(self, event: Event) -> bool:
        try:
            self._append_tx([event])
        except sqlite3.OperationalError as exc:
            log.error("could not store internal event %s: %s", event.type, exc)
            return False
        return True

    def _append_tx(self, events: Sequence[Event]) -> list[int]:
        try:
            return self._append_rows(events, known={})
        except sqlite3.IntegrityError:
            # An event id already stored (a producer re-emitting after a restart): it
            # keeps its first seq and is stored once, and no seq number is burnt on it.
            known = self._stored_seqs(events)
            return self._append_rows(events, known=known)

    def _stored_seqs(self, events: Sequence[Event]) -> dict[str, int]:
        out: dict[str, int] = {}
        for event in events:
            row = self.conn.execute(
                "SELECT seq FROM outbox WHERE event_id=? AND part=0", (event.id,)
            ).fetchone()
            if row is not None:
                out[event.id] = int(row[0])
        return out

    def _append_rows(self, events: Sequence[Event], *, known: dict[str, int]) -> list[int]:
        now = time.time()
        synced = bool(self._clock_synced())
        flag = int(synced)
        rows: list[tuple[str, int, int, int, str, bytes, int, float, int]] = []
        added = dict.fromkeys(Priority, 0)
        seqs: list[int] = []
        with self._transaction() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key='seq'").fetchone()
            last = int(row[0]) if row else 0
            for event in events:
                if event.id in known:
                    seqs.append(known[event.id])
                    continue
                last += 1
                seqs.append(last)
                known[event.id] = last  # a second copy in this same batch
                payload = encode_cloudevent(event, seq=last, clock_synced=synced)
                prio = int(event.priority)
                topic = event_topic_suffix(event)
                rows.append((event.id, 0, last, prio, topic, payload, len(payload), now, flag))
                added[event.priority] += len(payload)
                for n, att in enumerate(event.attachments, start=1):
                    topic = attachment_topic_suffix(event.id, n)
                    size = len(att.data)
                    rows.append((event.id, n, last, prio, topic, att.data, size, now, flag))
                    added[event.priority] += size
            conn.executemany(
                "INSERT INTO outbox "
                "(event_id, part, seq, priority, topic, payload, size, created, synced) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('seq', ?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (last,),
            )
        for prio, size in added.items():
            self._bytes[prio] += size
        return seqs

    # -- shedding --------------------------------------------------------------------

    def _after_append(self) -> None:
        cap = self._config.max_bytes
        quotas = {
            Priority.TELEMETRY: self._config.quotas.telemetry,
            Priority.EVENT: self._config.quotas.event,
        }
        # Shed a little below each limit, so that a steady overflow sheds in chunks
        # rather than on every single append.
        for prio in _SHEDDABLE:
            limit = int(cap * quotas[prio])
            if self._bytes[prio] > limit:
                self._drop_oldest(prio, self._bytes[prio] - limit + limit // 20)
        for prio in _SHEDDABLE:
            excess = sum(self._bytes.values()) - cap
            if excess <= 0:
                break
            self._drop_oldest(prio, excess + cap // 20)
        over = sum(self._bytes.values()) > cap
        if over != self._over_cap:
            self._over_cap = over
            if over:
                # Only alarms are left: they are kept (never dropped), and this is said loudly.
                log.error(
                    "buffer holds %d bytes of alarms, over its %d byte cap; alarms are kept",
                    self._bytes[Priority.ALARM],
                    cap,
                )
            else:
                log.info("buffer back under its byte cap")
        if time.monotonic() - self._last_expiry > 60:
            self.expire()
        self._maybe_report()

    def expire(self, now: float | None = None) -> int:
        """Drop telemetry and events older than ``max_age_s``; alarms are never aged out.

        Age is wall-clock time, which a Pi without an RTC only has once NTP has synced:
        rows written before that carry a wrong (usually far too old) time, and the jump
        at sync would age out a whole offline backlog at once. So expiry runs only while
        the clock is synchronised and only judges rows written while it was; the others
        are bounded by the byte cap alone.
        """
        self._last_expiry = time.monotonic()
        if now is None:
            if not self._clock_synced():
                return 0
            now = time.time()
        cutoff = now - self._config.max_age_s
        total = 0
        for prio in _SHEDDABLE:
            ids = self.conn.execute(
                "SELECT id, size FROM outbox "
                "WHERE priority=? AND created<? AND part=0 AND synced=1",
                (int(prio), cutoff),
            ).fetchall()
            total += self._delete_events(prio, [i for i, _ in ids])
        self._maybe_report()
        return total

    def _drop_oldest(self, prio: Priority, need: int) -> None:
        freed = 0
        victims: list[int] = []
        cursor = self.conn.execute(
            "SELECT id, event_id, size FROM outbox WHERE priority=? ORDER BY id",
            (int(prio),),
        )
        for row_id, _event_id, size in cursor:
            victims.append(row_id)
            freed += size
            if freed >= need:
                break
        cursor.close()
        self._delete_events(prio, victims)

    def _delete_events(self, prio: Priority, row_ids: list[int]) -> int:
        """Delete whole events (with their attachments) owning ``row_ids``; count drops."""
        if not row_ids:
            return 0
        with self._transaction() as conn:
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS victims (id INTEGER PRIMARY KEY)")
            conn.execute("DELETE FROM victims")
            conn.executemany("INSERT INTO victims (id) VALUES (?)", [(i,) for i in row_ids])
            freed, n_events = conn.execute(
                "SELECT coalesce(sum(size), 0), count(DISTINCT event_id) FROM outbox "
                "WHERE event_id IN (SELECT event_id FROM outbox WHERE id IN victims)"
            ).fetchone()
            conn.execute(
                "DELETE FROM outbox WHERE event_id IN "
                "(SELECT event_id FROM outbox WHERE id IN victims)"
            )
            self._count_drops(prio, int(n_events))
        self._bytes[prio] -= int(freed)
        self._dropped_since_report[prio] += int(n_events)
        return int(n_events)

    def _count_drops(self, prio: Priority, n: int) -> None:
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value=value+excluded.value",
            (f"dropped.{prio.label}", n),
        )

    def _shed_for_disk(self, step: int) -> bool:
        """After SQLITE_FULL: free telemetry first, then events, more on each step.

        Step 0 frees a tenth of the class (at least 64 KiB); each further step doubles
        that, so an append that needs a lot of room gets it in a few rounds.
        """
        prio = next((p for p in _SHEDDABLE if self._bytes[p] > 0), None)
        if prio is None:
            return False
        have = self._bytes[prio]
        try:
            self._drop_oldest(prio, max(have // 10, 64 * 1024) << min(step, 20))
        except sqlite3.OperationalError as exc:
            log.error("could not shed %s on a full disk: %s", prio.label, exc)
            return False
        self._maybe_report(force=True)
        return True

    def _maybe_report(self, *, force: bool = False) -> None:
        if not any(self._dropped_since_report.values()):
            return
        now = time.monotonic()
        if not force and now - self._last_report < self._config.drop_report_interval_s:
            return
        self._last_report = now
        counts = {p.label: n for p, n in self._dropped_since_report.items()}
        log.warning("buffer shed events to stay within its limits: %s", counts)
        stored = self._append_internal(
            Event(
                type="gateway.buffer.dropped",
                subject="buffer",
                data={"dropped": counts, "dropped_total": self.dropped_totals()},
                # Alarm class so that the report of a loss can never itself be shed.
                priority=Priority.ALARM,
                severity=Severity.WARNING,
                source=self._source,
            )
        )
        if stored:
            # Only a stored report settles the count; otherwise the next one carries it.
            self._dropped_since_report = dict.fromkeys(_SHEDDABLE, 0)

    def dropped_totals(self) -> dict[str, int]:
        out = {p.label: 0 for p in _SHEDDABLE}
        for key, value in self.conn.execute(
            "SELECT key, value FROM meta WHERE key LIKE 'dropped.%'"
        ):
            out[key.removeprefix("dropped.")] = int(value)
        return out

    # -- forwarding ------------------------------------------------------------------

    def pending(
        self,
        limit: int,
        *,
        exclude: Collection[int] = (),
        max_bytes: int = 8 * 1024 * 1024,
    ) -> list[OutboxRow]:
        """Up to ``limit`` rows to send next (priority, then age), skipping ``exclude``.

        ``exclude`` holds rows already handed to the broker and not yet settled; their
        payloads (snapshots can be 100 KB) are not read again. The batch also stops at
        ``max_bytes`` of payload (always at least one row).
        """
        chosen: list[int] = []
        total = 0
        cursor = self.conn.execute(
            "SELECT id, size FROM outbox WHERE state=? ORDER BY priority DESC, id LIMIT ?",
            (PENDING, limit + len(exclude)),
        )
        for row_id, size in cursor:
            if row_id in exclude:
                continue
            if chosen and total + size > max_bytes:
                break
            chosen.append(row_id)
            total += size
            if len(chosen) >= limit:
                break
        cursor.close()
        if not chosen:
            return []
        out: list[OutboxRow] = []
        for chunk, marks in _id_chunks(chosen):
            rows = self.conn.execute(
                "SELECT id, event_id, part, seq, priority, topic, payload FROM outbox "  # noqa: S608 - placeholders only
                f"WHERE id IN ({marks})",
                chunk,
            ).fetchall()
            out.extend(OutboxRow(r[0], r[1], r[2], r[3], Priority(r[4]), r[5], r[6]) for r in rows)
        order = {row_id: i for i, row_id in enumerate(chosen)}
        out.sort(key=lambda r: order[r.id])
        return out

    def ack(self, row_ids: Sequence[int]) -> None:
        """Delete rows the broker acknowledged (PUBACK reason code < 0x80)."""
        if not row_ids:
            return
        freed = dict.fromkeys(Priority, 0)
        # A lost delete only means a duplicate after power loss (the platform dedups by
        # id), never a lost event, so acknowledgements skip the per-commit fsync.
        self.conn.execute("PRAGMA synchronous=NORMAL")
        try:
            with self._transaction() as conn:
                for chunk, marks in _id_chunks(row_ids):
                    for prio, size in conn.execute(
                        f"SELECT priority, coalesce(sum(size),0) FROM outbox "  # noqa: S608 - placeholders only
                        f"WHERE id IN ({marks}) GROUP BY priority",
                        chunk,
                    ):
                        freed[Priority(prio)] += int(size)
                    conn.execute(f"DELETE FROM outbox WHERE id IN ({marks})", chunk)  # noqa: S608
        finally:
            self.conn.execute(f"PRAGMA synchronous={self._config.synchronous}")
        for prio, size in freed.items():
            self._bytes[prio] -= size

    def dead_letter(self, rejected: Sequence[tuple[int, str]]) -> None:
        """Keep rows the broker refused, out of the send queue, with the reason."""
        if not rejected:
            return
        with self._transaction() as conn:
            conn.executemany(
                "UPDATE outbox SET state=?, reason=? WHERE id=?",
                [(DEAD, reason, row_id) for row_id, reason in rejected],
            )
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('dead_lettered', ?) "
                "ON CONFLICT(key) DO UPDATE SET value=value+excluded.value",
                (len(rejected),),
            )

    def dead_letters(self, limit: int = 100) -> list[tuple[str, int, str, str]]:
        """(event_id, part, topic, reason) of dead-lettered rows, oldest first."""
        rows = self.conn.execute(
            "SELECT event_id, part, topic, reason FROM outbox WHERE state=? ORDER BY id LIMIT ?",
            (DEAD, limit),
        ).fetchall()
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def requeue_dead(self) -> int:
        """Put dead-lettered rows back in the send queue (after an ACL fix)."""
        cur = self.conn.execute(
            "UPDATE outbox SET state=?, reason=NULL WHERE state=?", (PENDING, DEAD)
        )
        return cur.rowcount

    def stats(self) -> OutboxStats:
        conn = self.conn
        pending, pending_bytes, oldest = conn.execute(
            "SELECT count(*), coalesce(sum(size),0), min(created) FROM outbox WHERE state=?",
            (PENDING,),
        ).fetchone()
        dead = conn.execute("SELECT count(*) FROM outbox WHERE state=?", (DEAD,)).fetchone()[0]
        row = conn.execute("SELECT value FROM meta WHERE key='seq'").fetchone()
        return OutboxStats(
            pending=int(pending),
            pending_bytes=int(pending_bytes),
            dead=int(dead),
            bytes_by_priority={p.label: b for p, b in self._bytes.items()},
            dropped=self.dropped_totals(),
            last_seq=int(row[0]) if row else 0,
            oldest_pending_age_s=(time.time() - oldest) if oldest is not None else None,
            quarantined=self.quarantined,
        )
