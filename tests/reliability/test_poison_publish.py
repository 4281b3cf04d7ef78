"""A publish the network answers by dropping the connection does not stall the uplink.

Through tests/reliability/faultproxy.py in ``poison`` mode: every connection whose
bytes carry sample 7 is reset before they reach the real Mosquitto, as a
content-inspecting firewall (or a broker that closes instead of refusing) does. Before
agent/forward_poison.py the agent reconnected about once a second with the same rows
first and delivered nothing after the birth, forever. The proxy opens only once the
whole backlog is stored, so the first connections carry the poison behind innocent
samples, all in flight together (the careful mode's case). Pass: every other sample arrives,
sample 7 is kept as a dead letter (not deleted) with a ``gateway.forward.rejected``
alarm, and ``buffer requeue-dead`` can send it again. Second case: every publish on
one topic is reset (an ACL without that topic); after the first is found, each later one
costs one reconnect (its topic family is suspect), which the proxy's count checks.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
from collections.abc import Iterator
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
EVENTS, TELEMETRY = 30, 6


def _pending(cfg: Path) -> int:
    try:
        return int(buffer_stats(cfg)["pending"])
    except subprocess.CalledProcessError:  # no outbox yet
        return 0


@contextlib.contextmanager
def _behind_proxy(
    tmp_path: Path, broker: Mosquitto, marker: bytes, drivers: list[dict[str, object]]
) -> Iterator[tuple[FaultProxy, Subscriber, Path, AgentProcess]]:
    """The agent behind a poison proxy that opens only once every event is stored, so
    the first connections carry the poison behind innocent rows."""
    proxy = FaultProxy(broker.port, Faults(mode="poison", poison=marker), port=free_port())
    sub = Subscriber(broker.port)
    mqtt = {"host": "127.0.0.1", "port": proxy.port, "insecure": True, "reconnect_max_s": 1.0}
    cfg = write_config(
        tmp_path / "c.yaml", port=proxy.port, buffer=tmp_path / "b.db", mqtt=mqtt, drivers=drivers
    )
    agent = AgentProcess(cfg, tmp_path / "agent.log").start()
    proxy_started = False
    total = sum(int(str(d["count"])) for d in drivers)
    try:
        assert wait_for(lambda: _pending(cfg) >= total, 60), agent.log()
        proxy.start()
        proxy_started = True
        yield proxy, sub, cfg, agent
    finally:
        if agent.alive():
            agent.kill()
        sub.close()
        if proxy_started:
            proxy.stop()


def _dead_reasons(db: Path) -> list[tuple[bytes, str]]:
    con = sqlite3.connect(db)
    rows = con.execute("SELECT payload, reason FROM outbox WHERE state=1 ORDER BY id").fetchall()
    con.close()
    return [(bytes(payload), reason) for payload, reason in rows]


def test_a_publish_that_drops_the_connection_is_set_aside(
    tmp_path: Path, broker: Mosquitto
) -> None:
    marker = f'"n":{POISON},"driver"'.encode()

    def samples(s: Subscriber) -> set[int]:
        return {e["data"]["n"] for e in s.events() if e["type"] == "synthetic.sample"}

    with _behind_proxy(tmp_path, broker, marker, [synthetic(COUNT, 200)]) as (
        proxy,
        sub,
        cfg,
        agent,
    ):
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
    stats = buffer_stats(cfg)
    assert stats["dead"] == 1 and stats["pending"] == 0, stats
    ((payload, reason),) = _dead_reasons(tmp_path / "b.db")
    assert marker in payload and "sent alone" in reason
    assert cli_json("buffer", "requeue-dead", "--config", str(cfg))["requeued"] == 1
    assert buffer_stats(cfg)["pending"] == 1


def test_a_topic_the_broker_drops_costs_one_reconnect_per_message_after_the_first(
    tmp_path: Path, broker: Mosquitto
) -> None:
    """Every publish on one topic drops the connection (an ACL without that topic): the
    first is found as above (about five losses); each later one goes alone and is set
    aside at its first loss, so the six cost about ten reconnects, not thirty."""
    marker = b"gw-0001/telemetry/synthetic"  # the topic field of each telemetry PUBLISH
    drivers = [
        synthetic(EVENTS, 200, name="ev"),
        synthetic(TELEMETRY, 200, priority="telemetry", name="tm"),
    ]
    with _behind_proxy(tmp_path, broker, marker, drivers) as (proxy, sub, cfg, agent):
        assert sub.wait(
            lambda s: (
                len({e["data"]["n"] for e in s.events() if e["type"] == "synthetic.sample"})
                >= EVENTS
            ),
            90,
        ), agent.log()
        assert wait_for(lambda: buffer_stats(cfg)["dead"] == TELEMETRY, 90), agent.log()
        # Reports are coalesced (one a minute): the first one is the alarm to wait for.
        assert sub.wait(
            lambda s: any(e["type"] == "gateway.forward.rejected" for e in s.events()), 30
        ), agent.log()
        assert proxy.counters.poisoned <= 2 * TELEMETRY + 3, proxy.counters.poisoned
        assert agent.terminate() == 0
    stats = buffer_stats(cfg)
    assert stats["dead"] == TELEMETRY and stats["pending"] == 0, stats
    reasons = [reason for _, reason in _dead_reasons(tmp_path / "b.db")]
    assert "sent alone twice" in reasons[0]
    assert all("another publish on telemetry/synthetic" in r for r in reasons[1:]), reasons
