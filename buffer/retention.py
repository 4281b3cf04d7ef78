"""What the outbox lets go of, and how it counts it: byte quotas, age, a full disk.

Policy (docs/operations.md, ../shared/research/anchors-gateways.md §8.2): telemetry is
shed first, then events; alarms never. Every drop is counted here, in ``meta`` (totals
that survive restarts) and in ``unreported`` (since the last ``gateway.buffer.dropped``
report); building and storing that report is the store's business, not this module's.
Runs on the outbox writer thread only, like everything in ``buffer.store``.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

from agent.events import Priority
from buffer.config import BufferConfig
from buffer.wallclock import WallClock

log = logging.getLogger(__name__)

SHEDDABLE = (Priority.TELEMETRY, Priority.EVENT)
EXPIRY_EVERY_S = 60.0

Transaction = Callable[[], AbstractContextManager[sqlite3.Connection]]


class Retention:
    """Keeps the outbox inside its byte quotas and age limit, counting every drop."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        config: BufferConfig,
        *,
        sizes: dict[Priority, int],
        transaction: Transaction,
        clock_synced: Callable[[], bool],
        clock: WallClock | None = None,
    ) -> None:
        self._conn = conn
        self.clock = clock or WallClock()  # stamps ``created``; its steps are followed
        self._config = config
        self.sizes = sizes  # payload bytes per class, shared with the store
        self._transaction = transaction
        self._clock_synced = clock_synced
        self.unreported: dict[Priority, int] = dict.fromkeys(SHEDDABLE, 0)
        # Dead letters (rows the broker refused) among the dropped: said separately, as
        # they are the ones an operator meant to look at (requeue after an ACL fix).
        self.unreported_dead = 0
        self._last_expiry = time.monotonic()
        self._over_cap = False

    def enforce(self) -> None:
        """After an append: shed down to the quotas and the cap; expire once a minute."""
        cap = self._config.max_bytes
        quotas = {
            Priority.TELEMETRY: self._config.quotas.telemetry,
            Priority.EVENT: self._config.quotas.event,
        }
        # Shed a little below each limit, so that a steady overflow sheds in chunks
        # rather than on every single append.
        for prio in SHEDDABLE:
            limit = int(cap * quotas[prio])
            if self.sizes[prio] > limit:
                self.drop_oldest(prio, self.sizes[prio] - limit + limit // 20)
        for prio in SHEDDABLE:
            excess = sum(self.sizes.values()) - cap
            if excess <= 0:
                break
            self.drop_oldest(prio, excess + cap // 20)
        self._note_cap(sum(self.sizes.values()) > cap, cap)
        if time.monotonic() - self._last_expiry > EXPIRY_EVERY_S:
            self.expire()

    def _note_cap(self, over: bool, cap: int) -> None:
        if over == self._over_cap:
            return
        self._over_cap = over
        if over:
            # Only alarms are left: they are kept (never dropped), and this is said loudly.
            log.error(
                "buffer holds %d bytes of alarms, over its %d byte cap; alarms are kept",
                self.sizes[Priority.ALARM],
                cap,
            )
        else:
            log.info("buffer back under its byte cap")

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
            self.follow_clock()
            now = self.clock.now()
        cutoff = now - self._config.max_age_s
        total = 0
        for prio in SHEDDABLE:
            ids = self._conn.execute(
                "SELECT id FROM outbox WHERE priority=? AND created<? AND part=0 AND synced=1",
                (int(prio), cutoff),
            ).fetchall()
            total += self.delete_events(prio, [i for (i,) in ids])
        return total

    def follow_clock(self) -> None:
        """Move every row's ``created`` by the wall clock's step, if it took one, so a
        jump by hours neither ages out fresh rows nor keeps old ones (buffer/wallclock.py);
        the receipt and escalation deadlines (buffer/receipts.py) move with them."""
        step = self.clock.step()
        if not step:
            return
        log.warning("wall clock stepped %+.0f s; buffered events keep their real age", step)
        with self._transaction() as conn:
            conn.execute("UPDATE outbox SET created = created + ?", (step,))
            if _has_receipts(conn):  # their deadlines too: an SOS escalates on time
                conn.execute(
                    "UPDATE awaiting SET created = created + ?1, "
                    "next_announce = next_announce + ?1, receipted = receipted + ?1",
                    (step,),
                )
                conn.execute(
                    "UPDATE escalation SET next_try = next_try + ?1, updated = updated + ?1",
                    (step,),
                )
        self.clock.followed(step)  # only once committed: a failed UPDATE is tried again

    def drop_oldest(self, prio: Priority, need: int) -> int:
        """Delete the oldest events of ``prio`` until ``need`` bytes are freed."""
        return self.delete_events(prio, list(self._oldest(prio, need)))

    def _oldest(self, prio: Priority, need: int) -> Iterator[int]:
        freed = 0
        cursor = self._conn.execute(
            "SELECT id, size FROM outbox WHERE priority=? ORDER BY id", (int(prio),)
        )
        try:
            for row_id, size in cursor:
                yield row_id
                freed += size
                if freed >= need:
                    return
        finally:
            cursor.close()

    def delete_events(self, prio: Priority, row_ids: list[int]) -> int:
        """Delete whole events (with their attachments) owning ``row_ids``; count drops."""
        if not row_ids:
            return 0
        with self._transaction() as conn:
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS victims (id INTEGER PRIMARY KEY)")
            conn.execute("DELETE FROM victims")
            conn.executemany("INSERT INTO victims (id) VALUES (?)", [(i,) for i in row_ids])
            freed, n_events, n_dead = conn.execute(
                "SELECT coalesce(sum(size), 0), count(DISTINCT event_id), "
                "coalesce(sum(state=1), 0) FROM outbox "
                "WHERE event_id IN (SELECT event_id FROM outbox WHERE id IN victims)"
            ).fetchone()
            conn.execute(
                "DELETE FROM outbox WHERE event_id IN "
                "(SELECT event_id FROM outbox WHERE id IN victims)"
            )
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value=value+excluded.value",
                (f"dropped.{prio.label}", int(n_events)),
            )
        self.sizes[prio] -= int(freed)
        self.unreported[prio] += int(n_events)
        self.unreported_dead += int(n_dead)
        return int(n_events)

    def shed_for_disk(self, step: int) -> bool:
        """After SQLITE_FULL: free telemetry first, then events, more on each step.

        Step 0 frees a tenth of the class (at least 64 KiB); each further step doubles
        that, so an append that needs a lot of room gets it in a few rounds.
        """
        prio = next((p for p in SHEDDABLE if self.sizes[p] > 0), None)
        if prio is None:
            return False
        have = self.sizes[prio]
        try:
            self.drop_oldest(prio, max(have // 10, 64 * 1024) << min(step, 20))
        except sqlite3.OperationalError as exc:
            log.error("could not shed %s on a full disk: %s", prio.label, exc)
            return False
        return True

    def dropped_totals(self) -> dict[str, int]:
        out = {p.label: 0 for p in SHEDDABLE}
        for key, value in self._conn.execute(
            "SELECT key, value FROM meta WHERE key LIKE 'dropped.%'"
        ):
            out[key.removeprefix("dropped.")] = int(value)
        return out


def _has_receipts(conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='escalation'"
    ).fetchone()
    return row is not None
