"""The outbox on a real SQLite file: durability, order, quotas, a full disk, corruption."""

from __future__ import annotations

import asyncio
import json
import sqlite3
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


def store(path: Path, **cfg: object) -> OutboxStore:
    return OutboxStore(BufferConfig(path=path, **cfg), source="/edge/test/buffer")  # type: ignore[arg-type]


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
    s = store(tmp_path / "b.db", max_age_s=60, drop_report_interval_s=0.001)
    s.append([ev(0, Priority.TELEMETRY), ev(1, Priority.EVENT), ev(2, Priority.ALARM)])
    import time

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
