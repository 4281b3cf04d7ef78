"""Model-based test of the outbox store against a plain reference model.

anchors-reliability.md §3.6 (Vector's disk-buffer model test) and §6: hypothesis drives
the real :class:`buffer.store.OutboxStore` on a real file and a list-based model in
lockstep through append (with a byte cap and a file cap small enough that quota
shedding and a real SQLITE_FULL happen), pending, ack, dead-letter, requeue, expiry with
an injected clock (``expire(now=…)``), a clean close and a crash (the connection closed
without the final checkpoint, the WAL left behind), and checks after every step that
they agree: the same events pending in the same order (priority, then age), the same
dead letters, shed events only the oldest of a shed-able class, never an alarm, seq
numbers never reused, ``PRAGMA integrity_check`` ok after every reopen.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from agent.events import Event, Priority
from buffer.config import BufferConfig
from buffer.store import BufferFullError, OutboxStore
from tests.reliability.figures import record

MAX_AGE_S = 3600.0
SAMPLE = "test.sample"
_STEPS: dict[str, int] = {}


@dataclass
class Item:
    n: int
    prio: Priority
    dead: bool = False


@dataclass
class Model:
    items: dict[str, Item] = field(default_factory=dict)  # event id -> item, in append order

    def pending(self) -> list[int]:
        live = [i for i in self.items.values() if not i.dead]
        return [i.n for i in sorted(live, key=lambda i: (-int(i.prio), i.n))]

    def dead(self) -> set[int]:
        return {i.n for i in self.items.values() if i.dead}


def _n(row_payload: bytes) -> int | None:
    doc = json.loads(row_payload)
    return int(doc["data"]["n"]) if doc["type"] == SAMPLE else None


def _open(path: Path) -> OutboxStore:
    cfg = BufferConfig(
        path=path,
        max_bytes=256 * 1024,
        max_file_bytes=1024 * 1024,
        max_age_s=MAX_AGE_S,
        drop_report_interval_s=1e9,  # reports only when forced (a full disk)
    )
    return OutboxStore(cfg, source="/edge/test/buffer", clock_synced=lambda: True)


def _step(name: str) -> None:
    _STEPS[name] = _STEPS.get(name, 0) + 1


class OutboxAgainstModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="outbox-model-"))
        self.path = self.dir / "b.db"
        self.store = _open(self.path)
        self.model = Model()
        self.next_n = 0
        self.max_seq = 0

    # -- helpers ---------------------------------------------------------------------

    def _present(self) -> set[int]:
        ns = set()
        for (payload,) in self.store.conn.execute("SELECT payload FROM outbox WHERE part=0"):
            n = _n(payload)
            if n is not None:
                ns.add(n)
        return ns

    def _reconcile_shed(self, allowed: dict[str, int]) -> None:
        """Drop from the model what the store shed; only the oldest, never alarms."""
        present = self._present()
        gone = [eid for eid, i in self.model.items.items() if i.n not in present]
        for prio in Priority:
            ordered = [i.n for i in self.model.items.values() if i.prio == prio]
            missing = [i.n for eid, i in self.model.items.items() if eid in gone and i.prio == prio]
            if prio == Priority.ALARM:
                assert not missing, f"alarms lost: {missing}"
                continue
            assert missing == ordered[: len(missing)], f"{prio.label}: not the oldest shed"
            assert len(missing) <= allowed.get(prio.label, 0), "more gone than counted"
        if gone:
            _STEPS["events_shed_or_expired"] = _STEPS.get("events_shed_or_expired", 0) + len(gone)
        for eid in gone:
            del self.model.items[eid]

    # -- rules -----------------------------------------------------------------------

    @rule(
        prios=st.lists(st.sampled_from(list(Priority)), min_size=1, max_size=4),
        pad=st.sampled_from([0, 200, 6000, 30000]),
    )
    def append(self, prios: list[Priority], pad: int) -> None:
        self._append(prios, pad)

    @rule(
        prios=st.lists(st.sampled_from(list(Priority)), min_size=1, max_size=3),
        pad=st.sampled_from([60_000, 120_000]),
    )
    def append_snapshot_sized(self, prios: list[Priority], pad: int) -> None:
        """Big events: the byte cap sheds, and alarms fill the 1 MiB file (SQLITE_FULL)."""
        self._append(prios, pad)

    def _append(self, prios: list[Priority], pad: int) -> None:
        events = []
        for p in prios:
            data = {"n": self.next_n, "pad": "x" * pad}
            events.append(Event(type=SAMPLE, subject="dev-1", data=data, priority=p))
            self.next_n += 1
        before = self.store.dropped_totals()
        try:
            seqs = self.store.append(events)
        except BufferFullError:
            _step("append_refused_disk_full")
            seqs = []
        else:
            _step("append")
            assert len(seqs) == len(events)
            assert seqs == sorted(seqs) and seqs[0] > self.max_seq, "seq reused"
            self.max_seq = seqs[-1]
            for e in events:
                self.model.items[e.id] = Item(int(e.data["n"]), e.priority)
        after = self.store.dropped_totals()
        self._reconcile_shed({k: after[k] - before.get(k, 0) for k in after})

    @rule(k=st.integers(1, 12), data=st.data())
    def forward(self, k: int, data: st.DataObject) -> None:
        """What the forwarder does: read a batch, then per row a PUBACK, a refusal
        (reason code >= 0x80: dead-letter) or nothing yet (still in flight)."""
        _step("pending")
        batch = self.store.pending(k)
        assert len(batch) <= k
        got = [n for r in batch if r.part == 0 and (n := _n(r.payload)) is not None]
        assert got == self.model.pending()[: len(got)]
        fates = data.draw(
            st.lists(st.sampled_from("ank"), min_size=len(batch), max_size=len(batch))
        )
        acked = [r for r, f in zip(batch, fates, strict=True) if f == "a"]
        refused = [r for r, f in zip(batch, fates, strict=True) if f == "n"]
        if acked:
            _step("ack")
            self.store.ack([r.id for r in acked])
            for r in acked:
                self.model.items.pop(r.event_id, None)
        if refused:
            _step("dead_letter")
            try:
                self.store.dead_letter([(r.id, "0x87 not authorized") for r in refused])
            except sqlite3.OperationalError as exc:
                # A full disk refuses even this UPDATE (the WAL needs pages): the rows stay
                # pending, as the model says, and the forwarder sends them again later.
                assert "full" in str(exc), exc
                _step("dead_letter_refused_disk_full")
                return
            for r in refused:
                if r.event_id in self.model.items:
                    self.model.items[r.event_id].dead = True

    @rule()
    def requeue(self) -> None:
        _step("requeue_dead")
        try:
            self.store.requeue_dead()
        except sqlite3.OperationalError as exc:  # a full disk: the dead letters stay dead
            assert "full" in str(exc), exc
            _step("requeue_refused_disk_full")
            return
        for i in self.model.items.values():
            i.dead = False

    @rule(late=st.booleans())
    def expire(self, late: bool) -> None:
        _step("expire")
        # The injected clock: now, or past the age limit of every row written so far.
        now = time.time() + (MAX_AGE_S + 60 if late else 0)
        before = self.store.dropped_totals()
        self.store.expire(now=now)
        after = self.store.dropped_totals()
        if late:
            for eid, i in list(self.model.items.items()):
                if i.prio != Priority.ALARM:
                    del self.model.items[eid]
        shed = {k: after[k] - before.get(k, 0) for k in after}
        self._reconcile_shed(shed if late else {})

    @rule(crash=st.booleans())
    def reopen(self, crash: bool) -> None:
        _step("crash_and_reopen" if crash else "close_and_reopen")
        if crash:
            # No final checkpoint, no clean close: what SIGKILL leaves (the WAL stays).
            self.store.conn.close()
            self.store.seqmark.close()
        else:
            self.store.close()
        with sqlite3.connect(self.path) as check:
            assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        self.store = _open(self.path)
        assert self.store.quarantined is None

    # -- agreement after every step ---------------------------------------------------

    @invariant()
    def agrees_with_model(self) -> None:
        rows = self.store.pending(100_000, max_bytes=1 << 40)
        got = [n for r in rows if r.part == 0 and (n := _n(r.payload)) is not None]
        assert got == self.model.pending()
        dead = {n for eid, *_ in self.store.dead_letters(100_000) for n in self._n_of(eid)}
        assert dead == self.model.dead()
        others = [r for r in rows if _n(r.payload) is None]
        # Only the outbox's own reports may be there besides the samples: alarm class.
        assert all(r.priority == Priority.ALARM for r in others)
        assert self.store.stats().last_seq >= self.max_seq

    def _n_of(self, event_id: str) -> list[int]:
        item = self.model.items.get(event_id)
        if item is not None:
            return [item.n]
        row = self.store.conn.execute(
            "SELECT payload FROM outbox WHERE event_id=? AND part=0", (event_id,)
        ).fetchone()
        n = _n(row[0]) if row else None
        return [] if n is None else [n]

    def teardown(self) -> None:
        self.store.close()
        with sqlite3.connect(self.path) as check:
            assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        shutil.rmtree(self.dir, ignore_errors=True)


TestOutboxAgainstModel = OutboxAgainstModel.TestCase
TestOutboxAgainstModel.settings = settings(
    max_examples=80,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.fixture(scope="module", autouse=True)
def _report_model_figures() -> Iterator[None]:
    """After the machine has run: its step counts, for docs/reliability.md."""
    yield
    if _STEPS:
        record("outbox_model", examples=80, max_steps=50, steps=dict(_STEPS))
