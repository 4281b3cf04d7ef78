"""The outbox on a real SQLite file: durability, order, quotas, a full disk, corruption."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from agent.events import Attachment, Event, Priority
from buffer.config import BufferConfig
from buffer.outbox import Outbox
from buffer.store import BufferFullError, OutboxStore


def ev(n: int, prio: Priority = Priority.EVENT, pad: int = 0, **kw: object) -> Event:
    data: dict[str, object] = {"n": n}
    if pad:
        data["pad"] = "x" * pad
    return Event(type="test.sample", subject="dev-1", data=data, priority=prio, **kw)  # type: ignore[arg-type]


def store(path: Path, clock_synced: Callable[[], bool] | None = None, **cfg: object) -> OutboxStore:
    return OutboxStore(
        BufferConfig(path=path, **cfg),  # type: ignore[arg-type]
        source="/edge/test/buffer",
        clock_synced=clock_synced,
    )


def ns(rows: list) -> list[int]:
    return [
        json.loads(r.payload)["data"]["n"]
        for r in rows
        if r.part == 0 and json.loads(r.payload)["type"] == "test.sample"
    ]


def test_seq_is_gateway_wide_and_survives_reopen(tmp_path: Path) -> None:
    s = store(tmp_path / "b.db")
    assert s.append([ev(0), ev(1)]) == [1, 2]
    s.ack([r.id for r in s.pending(10)])
    s.close()
    s = store(tmp_path / "b.db")
    assert s.append([ev(2)]) == [3]  # deleting rows never resets the counter
    s.close()


def test_read_order_is_priority_then_seq(tmp_path: Path) -> None:
    s = store(tmp_path / "b.db")
    s.append(
        [
            ev(0, Priority.TELEMETRY),
            ev(1, Priority.EVENT),
            ev(2, Priority.ALARM),
            ev(3, Priority.TELEMETRY),
            ev(4, Priority.ALARM),
        ]
    )
    assert ns(s.pending(10)) == [2, 4, 1, 0, 3]
    s.close()


def test_attachments_travel_with_their_event_and_keep_seq_dense(tmp_path: Path) -> None:
    s = store(tmp_path / "b.db")
    jpeg = b"\xff\xd8fake-jpeg\xff\xd9"
    e = ev(0, Priority.ALARM, attachments=(Attachment(jpeg), Attachment(jpeg + b"2")))
    assert s.append([e, ev(1)]) == [1, 2]
    rows = s.pending(10)
    assert [(r.part, r.topic) for r in rows[:3]] == [
        (0, "events/test"),
        (1, f"snapshots/{e.id}/1"),
        (2, f"snapshots/{e.id}/2"),
    ]
    doc = json.loads(rows[0].payload)
    assert doc["attachments"][0]["sha256"] == Attachment(jpeg).sha256
    assert rows[1].payload == jpeg
    s.close()


def test_ack_deletes_only_named_rows_and_dead_letter_keeps_them(tmp_path: Path) -> None:
    s = store(tmp_path / "b.db")
    s.append([ev(i) for i in range(5)])
    rows = s.pending(10)
    s.ack([rows[0].id, rows[2].id])
    s.dead_letter([(rows[1].id, "PUBACK 0x87 Not authorized")])
    assert ns(s.pending(10)) == [3, 4]
    assert s.stats().dead == 1
    assert s.dead_letters()[0][3] == "PUBACK 0x87 Not authorized"
    assert s.requeue_dead() == 1
    assert ns(s.pending(10)) == [1, 3, 4]
    s.close()


def test_quota_sheds_telemetry_first_then_events_never_alarms(tmp_path: Path) -> None:
    s = store(tmp_path / "b.db", max_bytes=64 * 1024, drop_report_interval_s=0.001)
    for i in range(40):
        s.append([ev(i, Priority.ALARM, pad=100)])
    for i in range(40):
        s.append([ev(500 + i, Priority.EVENT, pad=100)])
    for i in range(200):
        s.append([ev(1000 + i, Priority.TELEMETRY, pad=300)])
    st_ = s.stats()
    assert st_.dropped["telemetry"] > 0 and st_.dropped["event"] == 0
    pending = s.pending(10_000)
    assert [n for n in ns(pending) if n < 1000] == list(range(40)) + list(range(500, 540))
    drops = [
        json.loads(r.payload)
        for r in pending
        if json.loads(r.payload)["type"] == "gateway.buffer.dropped"
    ]
    assert (
        drops and sum(d["data"]["dropped"]["telemetry"] for d in drops) == st_.dropped["telemetry"]
    )
    s.close()


def test_age_limit_drops_old_telemetry_and_events_but_not_alarms(tmp_path: Path) -> None:
    s = store(
        tmp_path / "b.db", clock_synced=lambda: True, max_age_s=60, drop_report_interval_s=0.001
    )
    s.append([ev(0, Priority.TELEMETRY), ev(1, Priority.EVENT), ev(2, Priority.ALARM)])
    assert s.expire(now=time.time() + 120) == 2
    assert ns(s.pending(10)) == [2]
    s.close()


def test_full_disk_sheds_then_reports_and_alarms_still_fit(tmp_path: Path) -> None:
    s = store(
        tmp_path / "b.db",
        max_file_bytes=1024 * 1024,
        max_bytes=64 * 1024 * 1024,
        drop_report_interval_s=0.001,
    )
    n = 0
    for _ in range(400):
        s.append([ev(n + i, Priority.TELEMETRY, pad=2000) for i in range(10)])
        n += 10
    # The file is at its hard cap: telemetry was shed to make room, and an alarm still fits.
    assert s.stats().dropped["telemetry"] > 0
    s.append([ev(99_999, Priority.ALARM, pad=100)])
    assert 99_999 in ns(s.pending(100_000))
    assert (tmp_path / "b.db").stat().st_size <= 1024 * 1024 + 64 * 1024
    s.close()


def test_full_disk_with_only_alarms_is_a_clear_error(tmp_path: Path) -> None:
    s = store(tmp_path / "b.db", max_file_bytes=1024 * 1024, max_bytes=64 * 1024 * 1024)
    try:
        for i in range(10_000):
            s.append([ev(i, Priority.ALARM, pad=2000)])
    except BufferFullError as exc:
        assert "disk full" in str(exc)
    else:
        raise AssertionError("expected BufferFullError")
    s.close()


def test_truncated_file_and_leftover_wal_are_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    s = store(path)
    s.append([ev(i, pad=500) for i in range(100)])
    s.close()
    data = path.read_bytes()
    path.write_bytes(data[:100] + b"\x00" * 50 + data[150:4096])
    (tmp_path / "b.db-wal").write_bytes(b"junk")
    s = store(path)
    assert s.quarantined is not None and Path(s.quarantined).exists()
    types = [json.loads(r.payload)["type"] for r in s.pending(10)]
    assert types == ["gateway.buffer.corrupt"]
    s.close()


def test_async_outbox_group_commits_concurrent_appends(tmp_path: Path) -> None:
    async def go() -> None:
        box = Outbox(BufferConfig(path=tmp_path / "b.db"), source="/edge/test/buffer")
        await box.open()
        seqs = await asyncio.gather(*(box.append([ev(i)]) for i in range(500)))
        assert sorted(s[0] for s in seqs) == list(range(1, 501))
        assert (await box.stats()).pending == 500
        await box.close()
        con = sqlite3.connect(tmp_path / "b.db")
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        con.close()

    asyncio.run(go())


def test_unsynchronised_rows_are_not_aged_out_when_the_clock_jumps(tmp_path: Path) -> None:
    # A Pi boots with a stale clock, buffers offline, then NTP jumps the clock forward:
    # the backlog written before the sync must not look a month old and vanish.
    synced = False
    s = store(tmp_path / "b.db", clock_synced=lambda: synced, max_age_s=60)
    s.append([ev(0, Priority.TELEMETRY), ev(1)])
    assert s.expire() == 0  # no trustworthy "now" while unsynchronised
    synced = True
    s.append([ev(2, Priority.TELEMETRY), ev(3)])
    assert s.expire(now=time.time() + 120) == 2
    assert ns(s.pending(10)) == [1, 0]
    s.close()


def test_version_1_file_is_migrated_not_quarantined(tmp_path: Path) -> None:
    s = store(tmp_path / "b.db")
    s.append([ev(0), ev(1)])
    s.close()
    con = sqlite3.connect(tmp_path / "b.db")
    con.execute("ALTER TABLE outbox DROP COLUMN synced")
    con.execute("PRAGMA user_version=1")
    con.close()
    s = store(tmp_path / "b.db", clock_synced=lambda: True, max_age_s=60)
    assert s.quarantined is None
    assert ns(s.pending(10)) == [0, 1]
    assert s.expire(now=time.time() + 120) == 2  # v1 rows count as written in sync
    s.close()


def test_unopenable_path_is_an_error_not_a_quarantine(tmp_path: Path) -> None:
    # A directory where the file should be (or a permission problem) is not corruption:
    # renaming it aside would hide a healthy backlog.
    (tmp_path / "b.db").mkdir()
    try:
        store(tmp_path / "b.db")
    except sqlite3.OperationalError:
        pass
    else:
        raise AssertionError("expected OperationalError")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.db"]


def test_a_briefly_locked_file_is_waited_for_not_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    s = store(path)
    s.append([ev(0), ev(1)])
    s.close()
    # Someone (a crew's sqlite3 shell) holds the file in rollback-journal mode for 0.5 s.
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("PRAGMA journal_mode=DELETE")
    holder.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(0.5, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        s = store(path)
        assert s.quarantined is None
        assert ns(s.pending(10)) == [0, 1]
        s.close()
    finally:
        release.join()
        holder.close()


def test_same_event_appended_twice_keeps_one_row_and_a_dense_seq(tmp_path: Path) -> None:
    s = store(tmp_path / "b.db")
    first = ev(0)
    assert s.append([first]) == [1]
    bytes_before = s.stats().pending_bytes
    assert s.append([first, ev(1)]) == [1, 2]  # re-emitted after a restart: same seq
    assert s.append([ev(2), ev(2, id=first.id)]) == [3, 1]
    assert s.append([ev(3)]) == [4]
    st_ = s.stats()
    assert st_.pending == 4
    assert sum(st_.bytes_by_priority.values()) == st_.pending_bytes
    assert st_.pending_bytes > bytes_before
    s.close()


def test_an_alarm_displaces_as_much_telemetry_as_it_needs(tmp_path: Path) -> None:
    s = store(tmp_path / "b.db", max_file_bytes=1024 * 1024, max_bytes=64 * 1024 * 1024)
    for i in range(600):
        s.append([ev(i, Priority.TELEMETRY, pad=2000)])
    # 400 KB of evidence: far more than one shedding step frees.
    big = Event(
        type="test.sample",
        subject="cam-1",
        data={"n": 99_999},
        priority=Priority.ALARM,
        attachments=(Attachment(b"\xff" * 400_000),),
    )
    s.append([big])
    assert 99_999 in ns(s.pending(100_000))
    assert s.stats().dropped["telemetry"] > 0
    s.close()


def test_a_committed_append_stands_even_if_housekeeping_fails(tmp_path: Path) -> None:
    s = store(tmp_path / "b.db")

    def broken() -> None:
        raise sqlite3.OperationalError("disk I/O error")

    s._after_append = broken  # type: ignore[method-assign]
    assert s.append([ev(0)]) == [1]
    assert ns(s.pending(10)) == [0]
    s.close()


def test_drop_count_is_kept_until_a_report_is_stored(tmp_path: Path) -> None:
    s = store(tmp_path / "b.db", max_bytes=64 * 1024, drop_report_interval_s=0.001)
    stored = s._append_internal
    failing = [True]

    def flaky(event: Event) -> bool:
        if failing[0]:
            return False
        return stored(event)

    s._append_internal = flaky  # type: ignore[method-assign]
    for i in range(100):
        s.append([ev(i, Priority.TELEMETRY, pad=1000)])
    dropped = s.stats().dropped["telemetry"]
    assert dropped > 0
    failing[0] = False
    time.sleep(0.01)
    s.append([ev(1000, Priority.TELEMETRY, pad=1000)])
    reports = [
        json.loads(r.payload)
        for r in s.pending(10_000)
        if json.loads(r.payload)["type"] == "gateway.buffer.dropped"
    ]
    assert sum(d["data"]["dropped"]["telemetry"] for d in reports) == s.stats().dropped["telemetry"]
    s.close()


def test_pending_skips_rows_in_flight_and_bounds_bytes(tmp_path: Path) -> None:
    s = store(tmp_path / "b.db")
    s.append([ev(i, pad=10_000) for i in range(20)])
    first = s.pending(5)
    again = s.pending(5, exclude={r.id for r in first})
    assert ns(first) == [0, 1, 2, 3, 4] and ns(again) == [5, 6, 7, 8, 9]
    assert len(s.pending(100, max_bytes=50_000)) == 4  # ~10 KB each
    assert len(s.pending(100, max_bytes=1)) == 1  # always at least one row
    s.close()


def test_a_cancelled_caller_does_not_kill_the_writer(tmp_path: Path) -> None:
    async def go() -> None:
        box = Outbox(BufferConfig(path=tmp_path / "b.db"), source="/edge/test/buffer")
        await box.open()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(box.call(lambda s: time.sleep(0.3)), 0.05)
            # The writer thread is still serving.
            assert await asyncio.wait_for(box.append([ev(0)]), 5) == [1]
        finally:
            await asyncio.wait_for(box.close(), 5)

    asyncio.run(go())


def test_one_bad_event_fails_only_its_own_append(tmp_path: Path) -> None:
    async def go() -> None:
        box = Outbox(BufferConfig(path=tmp_path / "b.db"), source="/edge/test/buffer")
        await box.open()
        # Hold the writer so that the appends below queue up and share one commit.
        blocker = asyncio.ensure_future(box.call(lambda s: time.sleep(0.3)))
        await asyncio.sleep(0.05)
        bad = Event(type="test.sample", subject="d", data={"n": object()})
        results = await asyncio.gather(
            *(box.append([ev(i)]) for i in range(10)),
            box.append([bad]),
            *(box.append([ev(i)]) for i in range(10, 20)),
            return_exceptions=True,
        )
        await blocker
        errors = [r for r in results if isinstance(r, BaseException)]
        assert len(errors) == 1 and "JSON" in str(errors[0])
        assert (await box.stats()).pending == 20
        await box.close()

    asyncio.run(go())


class OutboxModel(RuleBasedStateMachine):
    """Model-based test: the real outbox and a list agree after every step."""

    def __init__(self) -> None:
        super().__init__()
        import tempfile

        self.dir = Path(tempfile.mkdtemp())
        self.store = store(self.dir / "b.db")
        self.model: list[tuple[int, int]] = []  # (priority, n) pending, in insert order
        self.next_n = 0
        self.batch: list = []

    @rule(prios=st.lists(st.sampled_from(list(Priority)), min_size=1, max_size=5))
    def enqueue(self, prios: list[Priority]) -> None:
        events = []
        for p in prios:
            events.append(ev(self.next_n, p))
            self.model.append((int(p), self.next_n))
            self.next_n += 1
        self.store.append(events)

    @rule(k=st.integers(1, 8))
    def read_batch(self, k: int) -> None:
        self.batch = self.store.pending(k)
        expected = sorted(self.model, key=lambda pn: (-pn[0], pn[1]))[:k]
        assert ns(self.batch) == [n for _, n in expected]

    @precondition(lambda self: bool(self.batch))
    @rule(data=st.data())
    def ack_some(self, data: st.DataObject) -> None:
        chosen = data.draw(st.lists(st.sampled_from(self.batch), unique=True))
        self.store.ack([r.id for r in chosen])
        gone = set(ns(chosen))
        self.model = [pn for pn in self.model if pn[1] not in gone]
        self.batch = []

    @rule()
    def crash_and_reopen(self) -> None:
        self.store.close()
        self.store = store(self.dir / "b.db")
        self.batch = []

    @invariant()
    def counts_agree(self) -> None:
        assert self.store.stats().pending == len(self.model)

    def teardown(self) -> None:
        self.store.close()


TestOutboxModel = OutboxModel.TestCase
TestOutboxModel.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)


def test_dead_letters_shed_or_expired_are_reported(tmp_path: Path) -> None:
    s = store(
        tmp_path / "b.db", clock_synced=lambda: True, max_age_s=60, drop_report_interval_s=0.001
    )
    s.append([ev(0), ev(1)])
    s.dead_letter([(r.id, "PUBACK 0x87 Not authorized") for r in s.pending(1)])
    time.sleep(0.01)
    assert s.expire(now=time.time() + 120) == 2
    reports = [
        json.loads(r.payload)
        for r in s.pending(100)
        if json.loads(r.payload)["type"] == "gateway.buffer.dropped"
    ]
    assert sum(d["data"]["dead_letters_dropped"] for d in reports) == 1
    s.close()
