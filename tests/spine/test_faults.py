"""Broker refusals, corrupt buffers and quotas with the real agent and Mosquitto."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from tests.broker import Mosquitto, Subscriber
from tests.spine.agentproc import AgentProcess, buffer_stats, synthetic, write_config


def test_acl_denied_events_are_dead_lettered_not_deleted(tmp_path: Path) -> None:
    acl = "topic read edge/#\npattern write edge/%c/status\npattern write edge/%c/events/gateway\n"
    broker = Mosquitto(tmp_path, acl=acl).start()
    sub = Subscriber(broker.port)
    cfg = write_config(
        tmp_path / "c.yaml",
        port=broker.port,
        buffer=tmp_path / "b.db",
        drivers=[synthetic(50, 200)],
    )
    agent = AgentProcess(cfg, tmp_path / "agent.log").start()
    try:
        assert sub.wait(
            lambda s: any(e["type"] == "gateway.forward.rejected" for e in s.events()), 30
        ), agent.log()
        rejected = next(e for e in sub.events() if e["type"] == "gateway.forward.rejected")
        assert rejected["priority"] == "alarm"
        assert "0x87" in rejected["data"]["last_reason"]
        assert not [e for e in sub.events() if e["type"] == "synthetic.sample"]
        time.sleep(1.0)
        assert agent.terminate() == 0
        stats = buffer_stats(cfg)
        assert stats["dead"] == 50, stats
        assert stats["pending"] == 0
        con = sqlite3.connect(tmp_path / "b.db")
        reasons = {r[0] for r in con.execute("SELECT reason FROM outbox WHERE state=1")}
        con.close()
        assert len(reasons) == 1 and "0x87" in reasons.pop()
    finally:
        if agent.alive():
            agent.kill()
        sub.close()
        broker.stop()


def test_corrupt_buffer_is_renamed_aside_and_an_alarm_is_sent(
    tmp_path: Path, broker: Mosquitto
) -> None:
    db = tmp_path / "b.db"
    garbage = b"this is not an sqlite database\x00" * 200
    db.write_bytes(garbage)
    sub = Subscriber(broker.port)
    cfg = write_config(
        tmp_path / "c.yaml",
        port=broker.port,
        buffer=db,
        drivers=[synthetic(20, 100)],
    )
    agent = AgentProcess(cfg, tmp_path / "agent.log").start()
    try:
        assert sub.wait(
            lambda s: len([e for e in s.events() if e["type"] == "synthetic.sample"]) >= 20, 30
        ), agent.log()
        alarms = [e for e in sub.events() if e["type"] == "gateway.buffer.corrupt"]
        assert len(alarms) == 1 and alarms[0]["priority"] == "alarm"
        moved = Path(alarms[0]["data"]["quarantined_to"])
        assert moved.read_bytes() == garbage  # renamed, never deleted or altered
        assert agent.alive()
    finally:
        if agent.alive():
            agent.kill()
        sub.close()


def test_foreign_sqlite_file_is_not_reused(tmp_path: Path, broker: Mosquitto) -> None:
    db = tmp_path / "b.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE accounts (name TEXT)")
    con.commit()
    con.close()
    sub = Subscriber(broker.port)
    cfg = write_config(tmp_path / "c.yaml", port=broker.port, buffer=db, drivers=[])
    agent = AgentProcess(cfg, tmp_path / "agent.log").start()
    try:
        assert sub.wait(
            lambda s: any(e["type"] == "gateway.buffer.corrupt" for e in s.events()), 30
        ), agent.log()
        assert list(tmp_path.glob("b.db.corrupt-*"))
    finally:
        agent.terminate()
        sub.close()


def test_quota_sheds_telemetry_first_and_keeps_alarms(tmp_path: Path, broker: Mosquitto) -> None:
    # No broker reachable: everything piles up in the outbox, past its cap.
    cfg = write_config(
        tmp_path / "c.yaml",
        port=1,
        buffer=tmp_path / "b.db",
        buffer_extra={"max_bytes": 200_000, "drop_report_interval_s": 0.5},
        drivers=[
            synthetic(1500, 3000, "telemetry", name="tele", payload_bytes=200),
            synthetic(300, 3000, "alarm", name="alarm", payload_bytes=200),
        ],
    )
    agent = AgentProcess(cfg, tmp_path / "agent.log").start()
    time.sleep(6)
    assert agent.terminate() == 0
    stats = buffer_stats(cfg)
    assert stats["dropped"]["telemetry"] > 0
    assert stats["dropped"]["event"] == 0
    con = sqlite3.connect(tmp_path / "b.db")
    alarms = {
        json.loads(p)["data"]["n"]
        for (p,) in con.execute("SELECT payload FROM outbox WHERE priority=2 AND part=0")
        if json.loads(p)["type"] == "synthetic.sample"
    }
    drops = [
        json.loads(p)
        for (p,) in con.execute("SELECT payload FROM outbox")
        if b"gateway.buffer.dropped" in p
    ]
    con.close()
    assert alarms == set(range(300)), "an alarm was shed"
    assert drops and sum(d["data"]["dropped"]["telemetry"] for d in drops) > 0
    # Now the uplink returns: the drop events reach the platform too.
    cfg2 = write_config(
        tmp_path / "c2.yaml", port=broker.port, buffer=tmp_path / "b.db", drivers=[]
    )
    sub = Subscriber(broker.port)
    agent = AgentProcess(cfg2, tmp_path / "agent2.log").start()
    try:
        assert sub.wait(
            lambda s: any(e["type"] == "gateway.buffer.dropped" for e in s.events()), 30
        )
        assert sub.wait(
            lambda s: len([e for e in s.events() if e["priority"] == "alarm"]) >= 300, 30
        )
    finally:
        agent.terminate()
        sub.close()
