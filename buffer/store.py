"""The outbox core: append, read pending rows, delete acknowledged, dead-letter refused.

Synchronous, owned by exactly one thread: everything here runs on the writer thread of
:class:`buffer.outbox.Outbox` (sqlite connections are bound to the thread that opened
them). Opening and quarantine live in :mod:`buffer.schema`, shedding and expiry in
:mod:`buffer.retention`, the events the outbox reports about itself in
:mod:`buffer.reports`.

Rows are events (``part`` 0) and their binary attachments (``part`` 1..n). The
gateway-wide event sequence number is kept in ``meta`` so that attachments and deleted
rows never leave gaps in it, and it survives restarts.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
import zlib
from collections.abc import Callable, Collection, Iterator, Sequence

from agent.events import (
    Event,
    Priority,
    attachment_topic_suffix,
    encode_cloudevent,
    event_topic_suffix,
)
from buffer import receipts, reports
from buffer.config import BufferConfig
from buffer.integrity import CHECKSUM_REASON, reconcile_seq, row_crc, row_is_intact, topic_crc
from buffer.retention import SHEDDABLE, Retention
from buffer.rows import BufferFullError as BufferFullError  # re-exported
from buffer.rows import OutboxRow as OutboxRow
from buffer.rows import OutboxStats as OutboxStats
from buffer.schema import DEAD, PENDING, open_outbox
from buffer.seqmark import SeqMark
from buffer.space import DiskSpace
from buffer.wallclock import WallClock

log = logging.getLogger(__name__)


_Also = Callable[[sqlite3.Connection], None]


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

    def __init__(
        self,
        config: BufferConfig,
        *,
        source: str,
        clock_synced: Callable[[], bool] | None = None,
        clock: WallClock | None = None,
        receipt_policy: receipts.ReceiptPolicy | None = None,
    ) -> None:
        self._config = config
        self.receipts = receipt_policy  # alarms to keep until the platform confirms them
        self._source = source
        self._clock_synced = clock_synced or (lambda: False)
        self.conn, self.quarantined = open_outbox(config, receipts=receipt_policy is not None)
        self.space = DiskSpace(config.path, self.conn, capped=config.max_file_bytes is not None)
        self.retention = Retention(
            self.conn,
            config,
            sizes=self._load_bytes(),
            transaction=self._transaction,
            clock_synced=self._clock_synced,
            clock=clock,
        )
        self._last_report = 0.0
        self.seqmark = SeqMark(config.path)
        lost = reconcile_seq(self.conn, self.seqmark)
        if self.quarantined is not None:
            self._append_internal(reports.corrupt(self.quarantined, source=self._source))
        elif lost is not None:
            self._append_internal(reports.lost(*lost, source=self._source))

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

    @property
    def _bytes(self) -> dict[Priority, int]:
        return self.retention.sizes

    def close(self) -> None:
        try:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error as exc:
            # A full disk at shutdown: the WAL stays and is replayed on the next open.
            log.warning("buffer checkpoint at close failed (%s); the WAL is kept", exc)
        finally:
            self.conn.close()
            self.seqmark.close()

    # -- appending -------------------------------------------------------------------

    def append(self, events: Sequence[Event], also: _Also | None = None) -> list[int]:
        """Store ``events`` in one transaction; return their seq numbers.

        On a full disk, sheds telemetry, then events, in growing steps until the new
        events fit (an alarm displaces as much as it needs); raises
        :class:`BufferFullError` only when nothing shed-able is left.
        """
        step = 0
        while True:
            try:
                seqs = self._append_tx(events, also)
            except sqlite3.OperationalError as exc:
                if not _is_disk_full(exc):
                    raise
                if step == 0:
                    log.warning("buffer disk full while appending %d events", len(events))
                self.space.relieve(self.conn)
                if not self.retention.shed_for_disk(step):
                    raise BufferFullError(
                        f"disk full: {len(events)} events not stored after shedding "
                        "all telemetry and events"
                    ) from exc
                self._maybe_report(force=True)
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

    def _append_tx(self, events: Sequence[Event], also: _Also | None = None) -> list[int]:
        try:
            return self._append_rows(events, known={}, also=also)
        except sqlite3.IntegrityError:
            # An event id already stored (a producer re-emitting after a restart): it
            # keeps its first seq and is stored once, and no seq number is burnt on it.
            known = self._stored_seqs(events)
            return self._append_rows(events, known=known, also=also)

    def _stored_seqs(self, events: Sequence[Event]) -> dict[str, int]:
        out: dict[str, int] = {}
        for event in events:
            row = self.conn.execute(
                "SELECT seq FROM outbox WHERE event_id=? AND part=0", (event.id,)
            ).fetchone()
            if row is not None:
                out[event.id] = int(row[0])
        return out

    def _append_rows(
        self, events: Sequence[Event], *, known: dict[str, int], also: _Also | None = None
    ) -> list[int]:
        self.retention.follow_clock()
        now = self.retention.clock.now()
        synced = bool(self._clock_synced())
        flag = int(synced)
        rows: list[tuple[str, int, int, int, str, bytes, int, float, int, int]] = []
        added = dict.fromkeys(Priority, 0)
        seqs: list[int] = []
        policy = self.receipts
        # Locals, not attribute look-ups: this loop is the per-event Python cost of an
        # append (bench/RESULTS.md, buffer).
        encode, crc32, add_row = encode_cloudevent, zlib.crc32, rows.append
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
                payload = encode(event, seq=last, clock_synced=synced)
                prio = int(event.priority)
                topic = event_topic_suffix(event)
                crc = crc32(payload, topic_crc(topic))  # == row_crc(topic, payload)
                add_row((event.id, 0, last, prio, topic, payload, len(payload), now, flag, crc))
                if policy is not None and policy.needs(event):
                    receipts.record(conn, event, (last, topic, payload, crc), now, policy)
                added[event.priority] += len(payload)
                for n, att in enumerate(event.attachments, start=1):
                    topic = attachment_topic_suffix(event.id, n)
                    size = len(att.data)
                    crc = row_crc(topic, att.data)
                    rows.append((event.id, n, last, prio, topic, att.data, size, now, flag, crc))
                    added[event.priority] += size
            conn.executemany(
                "INSERT INTO outbox "
                "(event_id, part, seq, priority, topic, payload, size, created, synced, crc) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('seq', ?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (last,),
            )
            if also is not None:
                also(conn)  # e.g. an escalation marked sent together with its event
        for prio, size in added.items():
            self._bytes[prio] += size
        self.seqmark.advance(last)
        return seqs

    def reannounce(self, now: float) -> list[str]:
        """Unreceipted alarms due again go back into the queue (buffer/receipts.py)."""
        if self.receipts is None:
            return []
        self.retention.follow_clock()
        with self._transaction() as conn:
            ids, added = receipts.reannounce_due(conn, now, self.receipts.reannounce_s)
        for prio, size in added.items():
            self._bytes[Priority(prio)] += size
        return ids

    # -- retention and its reports ---------------------------------------------------

    def _after_append(self) -> None:
        self.retention.enforce()
        self.space.housekeep()
        self._maybe_report()

    def expire(self, now: float | None = None) -> int:
        """Age out telemetry and events (see :meth:`Retention.expire`); report drops."""
        total = self.retention.expire(now)
        self._maybe_report()
        return total

    def dropped_totals(self) -> dict[str, int]:
        return self.retention.dropped_totals()

    def _maybe_report(self, *, force: bool = False) -> None:
        unreported = self.retention.unreported
        if not any(unreported.values()):
            return
        now = time.monotonic()
        if not force and now - self._last_report < self._config.drop_report_interval_s:
            return
        self._last_report = now
        counts = {p.label: n for p, n in unreported.items()}
        log.warning("buffer shed events to stay within its limits: %s", counts)
        dead = self.retention.unreported_dead
        event = reports.dropped(counts, self.dropped_totals(), dead=dead, source=self._source)
        if self._append_internal(event):
            # Only a stored report settles the count; otherwise the next one carries it.
            self.retention.unreported = dict.fromkeys(SHEDDABLE, 0)
            self.retention.unreported_dead = 0

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
        damaged: list[tuple[int, int]] = []
        for chunk, marks in _id_chunks(chosen):
            rows = self.conn.execute(
                "SELECT id, event_id, part, seq, priority, topic, payload, crc FROM outbox "  # noqa: S608 - placeholders only
                f"WHERE id IN ({marks})",
                chunk,
            ).fetchall()
            for r in rows:
                if row_is_intact(r[5], r[6], r[7]):
                    out.append(OutboxRow(r[0], r[1], r[2], r[3], Priority(r[4]), r[5], r[6]))
                else:
                    damaged.append((r[0], r[3]))
        if damaged:
            self._dead_letter_damaged(damaged)
        order = {row_id: i for i, row_id in enumerate(chosen)}
        out.sort(key=lambda r: order[r.id])
        return out

    def _dead_letter_damaged(self, damaged: list[tuple[int, int]]) -> None:
        seqs = sorted({seq for _, seq in damaged})
        log.error("buffer rows failed their checksum (seq %s); dead-lettered", seqs[:20])
        self.dead_letter([(row_id, CHECKSUM_REASON) for row_id, _ in damaged])
        self._append_internal(reports.damaged(len(damaged), seqs, source=self._source))

    def ack(self, row_ids: Sequence[int]) -> None:
        """Delete rows the broker acknowledged (PUBACK reason code < 0x80).

        On a full disk the delete itself needs WAL room: make some (buffer.space) and
        try once more; a second failure propagates and the forwarder retries later.
        """
        if not row_ids:
            return
        try:
            freed = self._delete_acked(row_ids)
        except sqlite3.OperationalError as exc:
            if not _is_disk_full(exc):
                raise
            self.space.relieve(self.conn)
            freed = self._delete_acked(row_ids)
        for prio, size in freed.items():
            self._bytes[prio] -= size
        self.space.housekeep()

    def _delete_acked(self, row_ids: Sequence[int]) -> dict[Priority, int]:
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
        return freed

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
            oldest_pending_age_s=(self.retention.clock.now() - oldest)
            if oldest is not None
            else None,
            quarantined=self.quarantined,
        )
