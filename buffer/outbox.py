"""Async face of the outbox: one thread owns the SQLite connection, callers await it.

Appends from any number of tasks are queued to the writer thread, which takes every
append waiting at that moment into one transaction (natural group commit: while one
commit syncs, the next batch gathers). ``append`` returns only after that commit, so an
event acknowledged to its producer is on disk.

The way back is one ``call_soon_threadsafe`` per commit, which settles every append of
the group and sets ``changed`` together: each wake-up of the event loop from this thread
is a syscall and a scheduling round on a busy 2-core gateway (bench/RESULTS.md, buffer).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

from agent.events import Event
from buffer.config import BufferConfig
from buffer.receipts import ReceiptPolicy
from buffer.store import BufferFullError, OutboxRow, OutboxStats, OutboxStore

log = logging.getLogger(__name__)

T = TypeVar("T")

_MAX_GROUP = 4096  # events per commit; bounds one transaction's size and latency
_LOCKED_TRIES = 12  # x busy_timeout (5 s): a crew's sqlite3 shell may hold the lock a minute


def _is_locked(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and (code & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return True
    return "locked" in str(exc)


__all__ = ["BufferFullError", "Outbox", "OutboxRow", "OutboxStats"]


class _Append:
    """Events to store; ``future`` belongs to the producer's loop, settled from there."""

    __slots__ = ("events", "future")

    def __init__(self, events: Sequence[Event], future: asyncio.Future[list[int]]) -> None:
        self.events = events
        self.future = future


class _Call:
    __slots__ = ("fn", "future")

    def __init__(self, fn: Callable[[OutboxStore], Any]) -> None:
        self.fn = fn
        self.future: concurrent.futures.Future[Any] = concurrent.futures.Future()


_STOP = object()


def _settle(
    future: concurrent.futures.Future[Any], result: Any = None, exc: BaseException | None = None
) -> None:
    """Complete ``future`` unless its awaiter gave up (cancelled it) meanwhile.

    A cancelled caller cancels the concurrent future; setting it then would raise
    InvalidStateError on the writer thread and kill it, stalling every producer.
    """
    try:
        if exc is None:
            future.set_result(result)
        else:
            future.set_exception(exc)
    except concurrent.futures.InvalidStateError:
        pass


def _deliver(
    outcomes: list[tuple[asyncio.Future[list[int]], Any, BaseException | None]],
    changed: asyncio.Event | None,
) -> None:
    """On the loop: settle a commit group's appends (a cancelled producer's future is
    left alone: its events are stored all the same) and say that rows were added."""
    for future, result, exc in outcomes:
        if future.done():
            continue
        if exc is None:
            future.set_result(result)
        else:
            future.set_exception(exc)
    if changed is not None:
        changed.set()


class Outbox:
    """Durable store-and-forward queue used by the sink (producers) and the forwarder."""

    def __init__(
        self,
        config: BufferConfig,
        *,
        source: str,
        clock_synced: Callable[[], bool] | None = None,
        receipt_policy: ReceiptPolicy | None = None,
    ) -> None:
        self._config = config
        self._receipt_policy = receipt_policy
        self._source = source
        self._clock_synced = clock_synced
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.changed = asyncio.Event()  # set whenever rows were added
        self.quarantined: str | None = None

    # -- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        """Start the writer thread and open (or quarantine and recreate) the file."""
        self._loop = asyncio.get_running_loop()
        ready: concurrent.futures.Future[OutboxStore] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._writer, args=(ready,), name="buffer-writer", daemon=True
        )
        self._thread.start()
        store = await asyncio.wrap_future(ready)
        self.quarantined = store.quarantined
        self.changed.set()

    async def close(self, timeout: float | None = None) -> bool:
        """Finish every queued operation, checkpoint and close. Idempotent.

        Returns False when the writer thread did not finish within ``timeout`` (it is a
        daemon thread, so it cannot hold the process's exit).
        """
        if self._thread is None:
            return True
        self._queue.put(_STOP)
        thread, self._thread = self._thread, None
        await asyncio.to_thread(thread.join, timeout)
        return not thread.is_alive()

    def _writer(self, ready: concurrent.futures.Future[OutboxStore]) -> None:
        try:
            store = OutboxStore(
                self._config,
                source=self._source,
                clock_synced=self._clock_synced,
                receipt_policy=self._receipt_policy,
            )
        except BaseException as exc:
            ready.set_exception(exc)
            return
        ready.set_result(store)
        try:
            self._serve(store)
        finally:
            store.close()

    def _serve(self, store: OutboxStore) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            try:
                if self._serve_one(store, item):
                    return
            except Exception:
                # Never let one operation take the writer thread (and every producer) down.
                log.exception("buffer writer: operation failed unexpectedly")

    def _serve_one(self, store: OutboxStore, item: Any) -> bool:
        """Run ``item`` (and appends queued behind it); True when told to stop."""
        if isinstance(item, _Call):
            self._run_call(store, item)
            return False
        group: list[_Append] = [item]
        size = len(item.events)
        stop_after = False
        # Take whatever else is already waiting: one commit serves them all.
        while size < _MAX_GROUP:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(nxt, _Append):
                group.append(nxt)
                size += len(nxt.events)
            else:
                self._commit_group(store, group)
                group = []
                if nxt is _STOP:
                    stop_after = True
                    break
                self._run_call(store, nxt)
        if group:
            self._commit_group(store, group)
        return stop_after

    def _commit_group(self, store: OutboxStore, group: list[_Append]) -> None:
        if not group:
            return
        events = group[0].events if len(group) == 1 else [e for a in group for e in a.events]
        try:
            seqs = self._append_retrying(store, events)
        except Exception as exc:
            if len(group) > 1 and not isinstance(exc, BufferFullError | sqlite3.Error):
                # One producer's bad event (say, data that is not JSON) must not fail the
                # others it happened to share a commit with: retry each on its own. A
                # database error is not one producer's fault: retrying each member would
                # only repeat it (with a busy wait each), so the group fails together.
                for a in group:
                    self._commit_group(store, [a])
                return
            self._send_back([(a.future, None, exc) for a in group], changed=False)
            return
        outcomes: list[tuple[asyncio.Future[list[int]], Any, BaseException | None]] = []
        i = 0
        for a in group:
            n = len(a.events)
            outcomes.append((a.future, seqs[i : i + n], None))
            i += n
        self._send_back(outcomes, changed=True)

    def _send_back(
        self,
        outcomes: list[tuple[asyncio.Future[list[int]], Any, BaseException | None]],
        *,
        changed: bool,
    ) -> None:
        """One wake-up of the producers' loop for the whole group."""
        loop = outcomes[0][0].get_loop()
        try:
            loop.call_soon_threadsafe(_deliver, outcomes, self.changed if changed else None)
        except RuntimeError:
            # The loop is closed: nobody is left to tell (the rows are committed).
            log.debug("buffer: %d appends settled after their loop closed", len(outcomes))

    @staticmethod
    def _append_retrying(store: OutboxStore, events: Sequence[Event]) -> list[int]:
        """``store.append``, retried as one group while another connection holds the
        write lock (each try already waits ``busy_timeout``), for at most _LOCKED_TRIES."""
        tries = 0
        while True:
            try:
                return store.append(events)
            except sqlite3.OperationalError as exc:
                tries += 1
                if not _is_locked(exc) or tries >= _LOCKED_TRIES:
                    raise
                if tries == 1:
                    log.warning("buffer locked by another connection; %d events wait", len(events))

    @staticmethod
    def _run_call(store: OutboxStore, call: _Call) -> None:
        try:
            result = call.fn(store)
        except Exception as exc:
            _settle(call.future, exc=exc)
        else:
            _settle(call.future, result)

    # -- operations ------------------------------------------------------------------

    def _require_open(self) -> None:
        if self._thread is None:
            raise RuntimeError("outbox is not open")

    async def append(self, events: Sequence[Event]) -> list[int]:
        """Store events durably; return their gateway-wide seq numbers."""
        self._require_open()
        future: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._queue.put(_Append(events, future))
        # A cancelled producer cancels only this future: the commit goes ahead either
        # way (the writer never looks at it) and _deliver skips a cancelled future.
        return await future

    async def call(self, fn: Callable[[OutboxStore], T]) -> T:
        """Run ``fn(store)`` on the writer thread (after everything queued before it)."""
        self._require_open()
        item = _Call(fn)
        self._queue.put(item)
        # Shielded like append: a cancelled caller (the forwarder being stopped, say)
        # leaves the operation to finish on the writer thread instead of abandoning a
        # future the thread is about to complete.
        result: T = await asyncio.shield(asyncio.wrap_future(item.future))
        return result

    async def pending(self, limit: int, *, exclude: Collection[int] = ()) -> list[OutboxRow]:
        """Rows to send next, skipping ``exclude`` (rows already on their way)."""
        return await self.call(lambda s: s.pending(limit, exclude=exclude))

    async def ack(self, row_ids: Sequence[int]) -> None:
        await self.call(lambda s: s.ack(row_ids))

    async def dead_letter(self, rejected: Sequence[tuple[int, str]]) -> None:
        await self.call(lambda s: s.dead_letter(rejected))

    async def append_with(
        self, events: Sequence[Event], also: Callable[[sqlite3.Connection], None]
    ) -> list[int]:
        """Store ``events`` and run ``also(conn)`` in the same transaction (an escalation
        marked sent together with its event: either both are on disk or neither)."""
        seqs = await self.call(lambda s: s.append(events, also))
        self.changed.set()
        return seqs

    async def reannounce(self, now: float) -> list[str]:
        """Queue unreceipted alarms that are due again (same id and bytes)."""
        ids = await self.call(lambda s: s.reannounce(now))
        if ids:
            self.changed.set()
        return ids

    async def stats(self) -> OutboxStats:
        return await self.call(OutboxStore.stats)

    async def requeue_dead(self) -> int:
        """Send dead-lettered rows again (e.g. after the broker's ACL was fixed)."""
        n = await self.call(OutboxStore.requeue_dead)
        self.changed.set()
        return n


class OutboxSink:
    """The EventSink drivers write to: ``emit`` returns once the event is committed."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    async def emit(self, event: Event) -> None:
        await self._outbox.append([event])
