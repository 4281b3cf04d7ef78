"""Broker failover: the real agent against two real Mosquitto brokers (issue 16 item 2).

The agent's config lists broker A (``mqtt.host:port``) and broker B (``mqtt.failover``);
agent/endpoints.py picks the next broker when the current one fails. Synthetic drivers
produce events and alarms throughout; a platform subscriber sits on each broker, and
arrivals are de-duplicated by event id. A is killed mid-run (SIGKILL): the agent moves to
B. A comes back, B is killed: the agent comes back to A. Pass: every produced event
arrives on A or B (zero loss), duplicates at most the in-flight window per switch, and
the retained birth message is on whichever broker is current.
"""

from __future__ import annotations

import json
import re
import signal
from datetime import datetime
from pathlib import Path

import pytest

from agent.config import ConfigError, parse_config
from agent.endpoints import Endpoints
from tests.broker import Mosquitto, Subscriber
from tests.reliability.figures import record
from tests.spine.agentproc import AgentProcess, synthetic, wait_for, write_config

EVENTS = 900
ALARMS = 60
INFLIGHT = 16


def test_round_robin_backs_off_only_after_a_full_round() -> None:
    e = Endpoints([("a", 1), ("b", 2), ("c", 3)])
    assert [e.failed(), e.failed(), e.failed()] == [False, False, True]
    assert e.current == ("a", 1)
    e.failed()
    e.connected()  # b came up: its failure starts a new round, c is dialled at once
    assert [e.failed(), e.current] == [False, ("c", 3)]
    single = Endpoints([("a", 1)])
    assert single.failed() and single.failed()  # one broker: every failure backs off


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "site.yaml")
    return [str(i) for i in info.value.issues]


BASE = (
    "gateway: {id: gw-1}\nbuffer: {path: /tmp/x.db}\nmqtt:\n  host: 127.0.0.1\n  insecure: true\n"
)


def test_failover_entries_are_checked_with_file_and_line() -> None:
    cfg = parse_config(BASE + "  failover:\n    - {host: localhost, port: 1884}\n", "s.yaml")
    assert cfg.mqtt.endpoints == [("127.0.0.1", 1883), ("localhost", 1884)]
    bad_port = _problems(BASE + "  failover:\n    - {host: '::1', port: 0}\n")
    assert bad_port[0].startswith("site.yaml:7 mqtt.failover[0].port:"), bad_port
    remote = _problems(BASE + "  failover:\n    - {host: 10.0.0.2}\n")
    assert remote[0].startswith("site.yaml:7 mqtt.failover[0].host: plaintext MQTT"), remote
    twice = _problems(BASE + "  failover:\n    - {host: 127.0.0.1, port: 1883}\n")
    assert twice[0].startswith("site.yaml:7 mqtt.failover[0]: broker 127.0.0.1:1883"), twice


def _ids(subs: list[Subscriber]) -> tuple[set[str], int, int]:
    """Distinct ids of synthetic events over all subscribers, all copies, alarms."""
    events = [e for s in subs for e in s.events() if e["type"] == "synthetic.sample"]
    alarms = {e["id"] for e in events if e.get("priority") == "alarm" or e["source"] == "alarms"}
    return {e["id"] for e in events}, len(events), len(alarms)


_UPLINK = re.compile(r"^(\S+ \S+) \w+ agent\.forwarder: uplink to \S+ is (up|down)", re.M)


def _switch_seconds(log: str) -> list[float]:
    """From each "uplink … is down" line to the next "is up" (the agent's own log)."""
    out: list[float] = []
    down: datetime | None = None
    for stamp, state in _UPLINK.findall(log):
        at = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f")
        if state == "down":
            down = at
        elif down is not None:
            out.append(round((at - down).total_seconds(), 3))
            down = None
    return out


def _birth_state(sub: Subscriber) -> str | None:
    docs = sub.on_topic("/status")
    return json.loads(docs[-1])["state"] if docs else None


def test_kill_broker_a_then_b_loses_nothing(tmp_path: Path) -> None:
    a = Mosquitto(tmp_path).start()
    b = Mosquitto(tmp_path).start()
    subs = [Subscriber(a.port, client_id="platform-a"), Subscriber(b.port, client_id="platform-b")]
    mqtt = {
        "host": "127.0.0.1",
        "port": a.port,
        "failover": [{"host": "127.0.0.1", "port": b.port}],
        "insecure": True,
        "inflight": INFLIGHT,
        "reconnect_max_s": 2.0,
        "timeout_s": 5.0,
    }
    drivers = [
        synthetic(EVENTS, 30, payload_bytes=200),
        synthetic(ALARMS, 2, priority="alarm", name="alarms"),
    ]
    cfg = write_config(
        tmp_path / "c.yaml", port=a.port, buffer=tmp_path / "b.db", mqtt=mqtt, drivers=drivers
    )
    agent = AgentProcess(cfg, tmp_path / "agent.log").start()
    try:
        assert wait_for(lambda: len(subs[0].events()) > 100, 60), agent.log()
        a.proc.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
        a.proc.wait()  # type: ignore[union-attr]
        subs[0].close()  # or paho would rejoin the restarted A and count its events twice
        on_a = len(subs[0].events())
        assert wait_for(lambda: len(subs[1].events()) > 100, 60), agent.log()
        assert wait_for(lambda: _birth_state(subs[1]) == "online", 10)
        a.start()  # same port, a fresh broker: A's side is back
        subs.append(Subscriber(a.port, client_id="platform-a2"))
        b.stop()
        subs[1].close()
        on_b = len(subs[1].events())
        assert wait_for(lambda: len(subs[2].events()) > 50, 60), agent.log()
        assert wait_for(lambda: _birth_state(subs[2]) == "online", 10)
        everything = EVENTS + ALARMS
        assert wait_for(lambda: len(_ids(subs)[0]) >= everything, 120), agent.log()
        distinct, copies, alarms = _ids(subs)
        duplicates = copies - len(distinct)
        record(
            "failover",
            produced=everything,
            delivered=len(distinct),
            alarms_delivered=alarms,
            duplicated=duplicates,
            lost=everything - len(distinct),
            on_a_before_kill=on_a,
            on_b=on_b,
            inflight=INFLIGHT,
            switches=2,
            switch_seconds=_switch_seconds(agent.log()),
        )
        assert len(distinct) == everything
        # A switch re-sends at most what was in flight on the broker that died.
        assert duplicates <= 2 * INFLIGHT, duplicates
        assert agent.terminate() == 0
    finally:
        if agent.alive():
            agent.kill()
        for s in subs:
            s.close()  # closing twice is harmless in paho
        a.stop()
        b.stop()
