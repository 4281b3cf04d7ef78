"""Another connection holding the outbox's write lock (a crew's sqlite3 shell).

Issue 9 item 3: a locked database delays, never kills: the forwarder waits and carries
on, producers wait as one group instead of one busy timeout each.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

from agent.events import Event
from buffer.config import BufferConfig
from buffer.outbox import Outbox
from tests.broker import Mosquitto, Subscriber
from tests.spine.agentproc import AgentProcess, synthetic, write_config


def _hold_lock(path: Path, seconds: float) -> tuple[sqlite3.Connection, threading.Event]:
    """BEGIN IMMEDIATE on a second connection, released after ``seconds``."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    released = threading.Event()

    def release() -> None:
        holder.execute("COMMIT")
        released.set()

    threading.Timer(seconds, release).start()
    return holder, released


def test_an_append_outlasting_busy_timeout_waits_instead_of_failing(tmp_path: Path) -> None:
    async def go() -> None:
        box = Outbox(BufferConfig(path=tmp_path / "b.db"), source="/edge/test/buffer")
        await box.open()
        holder, released = _hold_lock(tmp_path / "b.db", 8.0)  # > busy_timeout (5 s)
        try:
            # One producer alone: nothing to split the group into, so before the fix its
            # append failed after one busy timeout ("database is locked").
            alone = await box.append([Event(type="test.sample", subject="d", data={"n": 0})])
            assert released.is_set() and alone == [1]
            events = [Event(type="test.sample", subject="d", data={"n": i}) for i in range(20)]
            seqs = await asyncio.gather(*(box.append([e]) for e in events))
            assert sorted(s[0] for s in seqs) == list(range(2, 22))
        finally:
            await asyncio.to_thread(released.wait, 15)
            holder.close()
            await box.close()

    asyncio.run(go())


def test_forwarder_survives_a_locked_outbox(tmp_path: Path, broker: Mosquitto) -> None:
    sub = Subscriber(broker.port)
    db = tmp_path / "b.db"
    cfg = write_config(
        tmp_path / "c.yaml", port=broker.port, buffer=db, drivers=[synthetic(3000, 300)]
    )
    agent = AgentProcess(cfg, tmp_path / "agent.log").start()
    holder: sqlite3.Connection | None = None
    released = threading.Event()
    try:
        assert sub.wait(
            lambda s: len([e for e in s.events() if e["type"] == "synthetic.sample"]) >= 200, 30
        ), agent.log()
        holder, released = _hold_lock(db, 8.0)
        assert released.wait(15)
        assert sub.wait(
            lambda s: (
                {e["data"]["n"] for e in s.events() if e["type"] == "synthetic.sample"}
                == set(range(3000))
            ),
            90,
        ), agent.log()[-4000:]
        assert agent.alive(), agent.log()[-4000:]
        assert "failed" not in agent.log().replace("driver", ""), agent.log()[-4000:]
        assert agent.terminate() == 0
    finally:
        released.wait(15)
        if holder is not None:
            holder.close()
        if agent.alive():
            agent.kill()
        sub.close()
