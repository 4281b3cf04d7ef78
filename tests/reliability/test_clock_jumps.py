"""The gateway's wall clock jumping by hours while the agent runs (issue 16 item 3).

The real system clock cannot be stepped in a test, so the outbox gets an injected wall
clock (buffer/wallclock.py, the seam) that jumps +3 h and -3 h against an injected
monotonic clock. Pass: no event lost or expired wrongly, seq strictly increasing, the
outbox's order unchanged, expiry still on time after the jumps, ``clocksync`` as
docs/events.md says (the kernel's verdict, not affected by a step). Timers: every timer of
the agent reads the monotonic clock; the only wall-clock reads are the stamps listed in
``WALL_CLOCK_READERS`` (a scan of the source keeps it so).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from agent.backoff import ReconnectSchedule
from agent.events import Event, Priority, Severity
from buffer.config import BufferConfig
from buffer.receipts import ReceiptClass, ReceiptPolicy, awaiting
from buffer.store import OutboxStore
from buffer.wallclock import WallClock
from tests.reliability.figures import record
from tests.shared_data import REPO

HOUR = 3600.0
SAMPLE = "synthetic.sample"


class Clocks:
    """A monotonic clock the test advances and a wall clock that can also jump."""

    def __init__(self) -> None:
        self.mono = 1000.0
        self.offset = 1_800_000_000.0  # wall = mono + offset

    def wall(self) -> float:
        return self.mono + self.offset

    def monotonic(self) -> float:
        return self.mono


def _store(
    tmp: Path, clocks: Clocks, *, synced: bool = True, tolerance: float = 5.0
) -> OutboxStore:
    tmp.mkdir(exist_ok=True)
    cfg = BufferConfig(path=tmp / "b.db", max_age_s=HOUR)
    clock = WallClock(clocks.wall, clocks.monotonic, tolerance_s=tolerance)
    return OutboxStore(cfg, source="/edge/test/buffer", clock_synced=lambda: synced, clock=clock)


def _batch(n0: int, n: int) -> list[Event]:
    prio = [Priority.EVENT, Priority.TELEMETRY, Priority.ALARM]
    return [
        Event(type=SAMPLE, subject="dev-1", data={"n": i}, priority=prio[i % 3])
        for i in range(n0, n0 + n)
    ]


def _docs(store: OutboxStore) -> list[dict[str, object]]:
    rows = store.pending(100_000, max_bytes=1 << 40)
    return [d for d in (json.loads(r.payload) for r in rows) if d["type"] == SAMPLE]


def _jumping_run(tmp: Path, tolerance: float) -> tuple[OutboxStore, Clocks, list[int], int]:
    """Append 30 events in three batches around a +3 h and a -6 h jump; expire after each."""
    clocks = Clocks()
    store = _store(tmp, clocks, tolerance=tolerance)
    seqs = store.append(_batch(0, 30))
    clocks.mono += 60
    clocks.offset += 3 * HOUR  # forward 3 h
    expired = store.expire()
    seqs += store.append(_batch(30, 30))
    clocks.mono += 60
    clocks.offset -= 6 * HOUR  # back 6 h: 3 h behind the true time
    expired += store.expire()
    seqs += store.append(_batch(60, 30))
    clocks.mono += 60
    expired += store.expire()
    return store, clocks, seqs, expired


def test_wall_clock_jumps_lose_nothing_and_expiry_stays_on_time(tmp_path: Path) -> None:
    store, clocks, seqs, expired = _jumping_run(tmp_path, tolerance=5.0)
    docs = _docs(store)
    assert expired == 0, "events minutes old aged out by a clock step"
    assert seqs == sorted(seqs) and len(set(seqs)) == 90  # strictly increasing
    assert len(docs) == 90
    for prio in ("alarm", "event", "telemetry"):
        ns = [d["data"]["n"] for d in docs if d["priority"] == prio]  # type: ignore[index]
        assert ns == sorted(ns), f"{prio}: order changed by a clock step"
    assert {d["clocksync"] for d in docs} == {"ntp"}
    # Expiry is still on time: 1 h after the last batch (monotonic), all but alarms go.
    clocks.mono += HOUR + 1
    dropped = store.expire()
    left = _docs(store)
    assert dropped == 60 and {d["priority"] for d in left} == {"alarm"} and len(left) == 30
    # Without following the steps (tolerance infinite: the old behaviour), the forward
    # jump ages out the first batch although it is a minute old.
    old, _, _, old_expired = _jumping_run(tmp_path / "old", tolerance=math.inf)
    record(
        "clock_jumps",
        jumps="+3h, -6h",
        appended=90,
        expired_wrongly=expired,
        expired_on_time=dropped,
        alarms_kept=len(left),
        expired_wrongly_without_fix=old_expired,
    )
    assert old_expired == 20  # the first batch's events and telemetry: the defect fixed
    store.close()
    old.close()


def test_an_unsynchronised_clock_says_so_and_expires_nothing(tmp_path: Path) -> None:
    clocks = Clocks()
    store = _store(tmp_path, clocks, synced=False)
    store.append(_batch(0, 9))
    clocks.offset -= 3 * HOUR
    clocks.mono += 2 * HOUR
    assert store.expire() == 0  # rows stamped by an unsynchronised clock are not aged
    assert {d["clocksync"] for d in _docs(store)} == {"unsynchronised"}
    store.close()


def test_reconnect_timers_ignore_the_wall_clock() -> None:
    """The backoff's clock is monotonic: a wall clock 3 h off changes nothing."""
    mono = [0.0]
    schedule = ReconnectSchedule(cap=10.0, clock=lambda: mono[0])
    assert ReconnectSchedule(cap=1.0)._clock.__name__ == "monotonic"
    schedule.attempting()
    mono[0] += 0.25
    assert schedule.alarm_gap_left() == 0.75


# The only places the agent reads the wall clock: stamps, never timers or ages.
WALL_CLOCK_READERS = {
    "agent/events.py",  # the event's ``time`` and the UUIDv7 id's timestamp
    "agent/commands/camera_replay.py",  # a replay's frame stamps
    "agent/commands/serial.py",  # the capture tool's line stamps
    "buffer/wallclock.py",  # the outbox's ``created``, its steps followed
    "buffer/inspect.py",  # ``buffer stats`` oldest age, a report
    "buffer/schema.py",  # the quarantined file's name
    "vision/replay.py",  # a replay's start stamp
    "vision/camera_driver.py",  # evidence time from the frame's monotonic age
    # Reports for people, epochs in the live status and its displayed ages; no decision:
    "agent/status.py",  # the live status's epochs (docs/operations.md "Live status")
    "agent/status_collect.py",  # its started/oldest-unsent epochs
    "agent/supervisor.py",  # a driver's last event, an epoch for the status
    "agent/uplink.py",  # since when the uplink is up or down, for the status
    "agent/console/views.py",  # ages shown on the console pages
    "agent/remote/handlers.py",  # the reply's ``time`` stamp
    # Certificates are valid between wall-clock dates, nothing else can judge them:
    "agent/credentials.py",  # provisioning: expired or not yet valid
    "agent/commands/provision.py",  # the same, in the installer's words
    "agent/gateway_health.py",  # days until the client certificate expires
    "drivers/serial/simulator/modem_sim.py",  # the simulator's log of texts "sent"
    # Deadlines kept on disk across restarts, where a monotonic clock cannot serve. The
    # receipt and escalation ones are moved with the outbox's stamps when the wall clock
    # steps (buffer/retention.py follow_clock; the test below); the Modbus bus-down hold
    # runs on the monotonic clock and reads this stamp only after an agent restart
    # (tests/modbus/test_bus_down_clock.py).
    "agent/escalation.py",  # escalate_after_s and retry times of an unreceipted alarm
    "agent/receipts.py",  # receipt time and the re-announce schedule
    "drivers/modbus/bus_down.py",  # the bus-down stamp on disk, for an agent restart only
}
_WALL = re.compile(r"\btime\.time(_ns)?\(|\bdatetime\.now\(|= time\.time\b")


def test_only_stamps_read_the_wall_clock() -> None:
    readers = {
        str(p.relative_to(REPO))
        for top in ("agent", "buffer", "drivers", "vision")
        for p in (REPO / top).rglob("*.py")
        if _WALL.search(p.read_text())
    }
    assert readers <= WALL_CLOCK_READERS, sorted(readers - WALL_CLOCK_READERS)


def test_escalation_deadlines_follow_a_clock_step_back(tmp_path: Path) -> None:
    """An SOS waiting for its receipt escalates after escalate_after_s of real time even
    when the wall clock steps back 6 h meanwhile (buffer/retention.py follow_clock moves
    the receipt tables' stamps with the outbox's); without that it would wait 6 h more."""
    clocks = Clocks()
    cfg = BufferConfig(path=tmp_path / "b.db", max_age_s=HOUR)
    policy = ReceiptPolicy(classes=(ReceiptClass("resident.alarm", "critical", ("SOS",)),))
    clock = WallClock(clocks.wall, clocks.monotonic)
    store = OutboxStore(cfg, source="/edge/test/buffer", clock_synced=lambda: True,
                        clock=clock, receipt_policy=policy)  # fmt: skip
    sos = Event(type="resident.alarm", subject="band-1", data={"key": "SOS"},
                priority=Priority.ALARM, severity=Severity.CRITICAL)  # fmt: skip
    store.append([sos])
    clocks.mono += 30
    clocks.offset -= 6 * HOUR  # back 6 h
    store.reannounce(clocks.wall())  # what the receipts loop does every second
    clocks.mono += 100  # 130 s of real time since the SOS
    due = awaiting(store.conn, older_than=clocks.wall() - 120)  # escalate_after_s = 120
    assert [a.event_id for a in due] == [sos.id]
    store.close()
