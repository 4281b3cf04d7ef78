"""A publish the network answers by dropping the connection does not stall the uplink.

Through tests/reliability/faultproxy.py in ``poison`` mode: every connection whose
bytes carry sample 7 is reset before they reach the real Mosquitto, as a
content-inspecting firewall (or a broker that closes instead of refusing) does. Before
agent/forward_poison.py the agent reconnected about once a second with the same rows
first and delivered nothing after the birth, forever. The proxy opens only once the
whole backlog is stored, so the first connections carry the poison behind innocent
samples, all in flight together (the careful mode's case). Pass: every other sample arrives,
sample 7 is kept as a dead letter (not deleted) with a ``gateway.forward.rejected``
alarm, and ``buffer requeue-dead`` can send it again.
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

from tests.broker import Mosquitto, Subscriber, free_port
from tests.reliability.faultproxy import FaultProxy, Faults
from tests.spine.agentproc import (
    AgentProcess,
    buffer_stats,
    cli_json,
    synthetic,
    wait_for,
    write_config,
)

COUNT = 40
POISON = 7


def _pending(cfg: Path) -> int:
    try:
        return int(buffer_stats(cfg)["pending"])
    except subprocess.CalledProcessError:  # no outbox yet
        return 0


def test_a_publish_that_drops_the_connection_is_set_aside(
    tmp_path: Path, broker: Mosquitto
) -> None:
    marker = f'"n":{POISON},"driver"'.encode()
    proxy = FaultProxy(broker.port, Faults(mode="poison", poison=marker), port=free_port())
    sub = Subscriber(broker.port)
    mqtt = {"host": "127.0.0.1", "port": proxy.port, "insecure": True, "reconnect_max_s": 1.0}
    cfg = write_config(
        tmp_path / "c.yaml",
        port=proxy.port,
        buffer=tmp_path / "b.db",
        mqtt=mqtt,
        drivers=[synthetic(COUNT, 200)],
    )
    agent = AgentProcess(cfg, tmp_path / "agent.log").start()
    proxy_started = False

    def samples(s: Subscriber) -> set[int]:
        return {e["data"]["n"] for e in s.events() if e["type"] == "synthetic.sample"}

    try:
        assert wait_for(lambda: _pending(cfg) >= COUNT, 60), agent.log()
        proxy.start()
        proxy_started = True
        others = set(range(COUNT)) - {POISON}
        assert sub.wait(lambda s: samples(s) >= others, 90), agent.log()
        assert sub.wait(
            lambda s: any(e["type"] == "gateway.forward.rejected" for e in s.events()), 30
        ), agent.log()
        report = next(e for e in sub.events() if e["type"] == "gateway.forward.rejected")
        assert report["priority"] == "alarm"
        assert "closed the connection" in report["data"]["last_reason"]
        assert POISON not in samples(sub)
        assert proxy.counters.poisoned >= 5  # three losses, then twice sent alone
        assert agent.terminate() == 0
    finally:
        if agent.alive():
            agent.kill()
        sub.close()
        if proxy_started:
            proxy.stop()
    stats = buffer_stats(cfg)
    assert stats["dead"] == 1 and stats["pending"] == 0, stats
    con = sqlite3.connect(tmp_path / "b.db")
    ((payload, reason),) = con.execute("SELECT payload, reason FROM outbox WHERE state=1")
    con.close()
    assert marker in bytes(payload) and "sent alone" in reason
    assert cli_json("buffer", "requeue-dead", "--config", str(cfg))["requeued"] == 1
    assert buffer_stats(cfg)["pending"] == 1
