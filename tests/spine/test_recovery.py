"""After an outage, what was queued during it reaches the platform (issue 19 item 5).

Regression for the "recovery stall" bench/run.py recovery once measured: a 2 events/s
synthetic source emitted in bursts of 64 (one every 32 s), so an outage could pass with
nothing queued and the bench timed the next burst. Here a real Mosquitto is stopped, the
test waits until the outbox holds rows written while it was down (read-only, as
``buffer stats`` reads it), starts the broker again and waits until every one of those
rows has been acknowledged by the broker (it leaves the outbox only then). Positive
signals only; no durations are asserted.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from drivers.synthetic.driver import batch_size
from tests.broker import Mosquitto
from tests.spine.agentproc import AgentProcess, synthetic, write_config


def _wait_for(predicate, timeout: float = 60.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return bool(predicate())


def _pending_ids(db: Path) -> set[int]:
    """Ids of the rows waiting to be sent, read-only (as ``buffer stats`` reads)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5.0) as conn:
            return {int(r[0]) for r in conn.execute("SELECT id FROM outbox WHERE state=0")}
    except sqlite3.Error:
        return set()


def _pending(db: Path) -> int:
    return len(_pending_ids(db))


def test_a_slow_source_emits_one_event_at_a_time() -> None:
    assert batch_size(2.0) == 1
    assert batch_size(5.0) == 1
    assert batch_size(10.0) == 2
    assert batch_size(400.0) == 64
    assert batch_size(100_000.0) == 64


def test_events_queued_during_an_outage_arrive_after_it(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path).start()
    db = tmp_path / "b.db"
    cfg = write_config(tmp_path / "c.yaml", port=broker.port, buffer=db, drivers=[synthetic(0, 2)])
    agent = AgentProcess(cfg, tmp_path / "agent.log").start()
    try:
        assert _wait_for(lambda: "is up" in agent.log()), agent.log()
        broker.stop()
        assert _wait_for(lambda: "is down" in agent.log()), agent.log()
        # Rows written while the broker is down arrive one at a time (a burst of 64 was
        # the old behaviour), and a few of them accumulate.
        assert _wait_for(lambda: _pending(db) >= 1), agent.log()
        assert _pending(db) < 64
        assert _wait_for(lambda: _pending(db) >= 3), agent.log()
        queued = _pending_ids(db)
        broker.start()
        # Positive signal: every row queued during the outage leaves the outbox, which it
        # does only after the broker's PUBACK. (A subscriber that connects once the broker
        # is back can miss the drain: the agent reconnects within milliseconds, and CI
        # saw exactly that.)
        assert _wait_for(lambda: not (queued & _pending_ids(db))), agent.log()
    finally:
        agent.terminate()
        broker.stop()
