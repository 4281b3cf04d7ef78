"""A fleet: 50 agent processes against one broker, the broker restarted under them.

issue 16 item 6 and anchors-reliability.md §7. Fifty real agents (``python -m agent
run``, a synthetic alarm driver and a synthetic event driver each) forward into one
Mosquitto on loopback. The platform side is three consumers in one MQTT v5 shared
subscription (``$share/platform/edge/+/events/#``) with persistent sessions, as a
platform scaled out behind a clustered broker would run. Mid-run the broker is stopped
and started again (its persistence keeps the consumers' sessions and queues, as a
clustered broker keeps them across a node's restart).

Pass: in steady state the three consumers together receive every event exactly once after
de-duplication by id; across the restart every agent reconnects, every backlog drains,
and the audit subscription has every produced event (each id with identical content):
nothing is lost. Reported: the reconnect-time spread after the restart (from each
agent's own log), the broker's connection-rate peak (new connections per second, from
its log), the consumers' share of the load, duplicates, and what the shared
subscription lost at the restart (a broker matter, see below).

It is a campaign test (marker ``campaign``), run by .ci/run as its own step.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.broker import Mosquitto
from tests.reliability.figures import record
from tests.spine.agentproc import AgentProcess, synthetic, wait_for, write_config

pytestmark = [pytest.mark.campaign, pytest.mark.timeout(1200)]

GATEWAYS = int(os.environ.get("FLEET_GATEWAYS", 50))
# Per gateway: alarms (2/s) and events (20/s) for the steady phase, "late" events
# (one per 2 s) that keep coming through the broker's restart.
ALARMS, EVENTS, LATE = 10, 100, 40
CONSUMERS = 3
DOWN_S = 3.0
_UP = re.compile(r"^(\S+) INFO agent.forwarder: uplink to \S+ is up")  # agent/logs.py format


@dataclass
class PersistentMosquitto(Mosquitto):
    """Mosquitto that keeps sessions and queued messages across its own restart."""

    def config_text(self) -> str:
        text = super().config_text().replace("persistence false", "persistence true")
        return text + "\n".join(
            [
                f"persistence_location {self.workdir}/",
                "autosave_interval 1",
                "connection_messages true",
                "log_timestamp true",
                "",
            ]
        )


class Consumer:
    """One platform instance in the shared subscription, with a persistent session."""

    def __init__(self, port: int, n: int, topic: str = "$share/platform/edge/+/events/#") -> None:
        self.messages: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"platform-{n}", protocol=mqtt.MQTTv5
        )
        c.on_message = self._on_message
        c.on_subscribe = lambda *a: self._subscribed.set()
        c.on_connect = lambda cl, *a: cl.subscribe(topic, qos=1)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        c.reconnect_delay_set(0.2, 1)
        c.connect("127.0.0.1", port, clean_start=False, properties=props)
        c.loop_start()
        self._client = c
        if not self._subscribed.wait(10):
            raise TimeoutError("consumer did not subscribe")

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(json.loads(msg.payload))

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


def _start_fleet(root: Path, port: int) -> list[AgentProcess]:
    agents = []
    for i in range(GATEWAYS):
        d = root / f"gw{i:02d}"
        d.mkdir()
        cfg = write_config(
            d / "c.yaml",
            port=port,
            buffer=d / "b.db",
            gateway=f"gw-f{i:02d}",
            # The product's reconnect defaults (agent/backoff.py), not the tests' short cap.
            mqtt={"host": "127.0.0.1", "port": port, "insecure": True},
            extra={"state_dir": str(d / "state")},
            drivers=[
                synthetic(ALARMS, 2, "alarm", name="alarms"),
                synthetic(EVENTS, 20, "event", name="events"),
                synthetic(LATE, 0.5, "event", name="late"),
            ],
        )
        agents.append(AgentProcess(cfg, d / "agent.log").start())
    return agents


def _ups_after(log: str, t0: float) -> list[float]:
    """Seconds from ``t0`` (epoch) to each 'uplink is up' line after it."""
    out = []
    for line in log.splitlines():
        m = _UP.match(line)
        if m:
            at = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
            if at.timestamp() >= t0:
                out.append(at.timestamp() - t0)
    return out


def _connection_rate_peak(broker_log: str, since: float) -> int:
    per_second: Counter[int] = Counter()
    for line in broker_log.splitlines():
        stamp, _, rest = line.partition(": ")
        new = rest.startswith("New client connected") and stamp.isdigit()
        if new and int(stamp) >= int(since):
            per_second[int(stamp)] += 1
    return max(per_second.values(), default=0)


def _keys(consumers: list[Consumer]) -> set[tuple[str, str, int]]:
    """(gateway, driver, n) of every synthetic sample the consumers received."""
    out = set()
    for c in consumers:
        for e in c.events():
            if e["type"] == "synthetic.sample":
                parts = e["source"].split("/")  # /edge/{gateway}/drivers/{driver}
                out.add((parts[2], parts[4], e["data"]["n"]))
    return out


def _produced(drivers: dict[str, int]) -> set[tuple[str, str, int]]:
    gws = [f"gw-f{i:02d}" for i in range(GATEWAYS)]
    return {(g, d, n) for g in gws for d, k in drivers.items() for n in range(k)}


def test_fifty_gateways_survive_a_broker_restart_and_lose_nothing(tmp_path: Path) -> None:
    broker = PersistentMosquitto(tmp_path).start()
    shared = [Consumer(broker.port, n) for n in range(CONSUMERS)]
    # The judge of "nothing lost" across the restart: an ordinary persistent subscription
    # beside the shared one. Mosquitto 2.0 drops a shared-subscription message that was
    # in flight to a consumer when its connection broke (eclipse-mosquitto/mosquitto#2662),
    # which a broker restart does to every consumer: a broker matter, reported below.
    audit = Consumer(broker.port, 99, topic="edge/+/events/#")
    steady = _produced({"alarms": ALARMS, "events": EVENTS})
    everything = steady | _produced({"late": LATE})
    agents: list[AgentProcess] = []
    try:
        agents = _start_fleet(tmp_path, broker.port)
        # Phase 1, steady state: the shared subscription gets every event exactly once.
        assert wait_for(lambda: steady <= _keys(shared), 240), (
            f"shared consumers miss {len(steady - _keys(shared))} steady-state events"
        )
        shared_steady = [len(c.events()) for c in shared]
        # Phase 2: the broker restarts while the "late" drivers still produce.
        broker.stop()
        time.sleep(DOWN_S)
        restarted_at = time.time()
        broker.start()
        assert wait_for(lambda: everything <= _keys([audit]), 300), (
            f"{len(everything - _keys([audit]))} missing after the restart"
        )
        for a in agents:
            assert a.alive(), a.log()[-2000:]
        exits = [a.terminate(30) for a in agents]
    finally:
        for a in agents:
            if a.alive():
                a.kill()
        for c in [*shared, audit]:
            c.close()
        broker.stop()
    assert exits == [0] * GATEWAYS
    events = [e for c in [audit] for e in c.events() if e["type"] == "synthetic.sample"]
    by_id: dict[str, dict[str, Any]] = {}
    for e in events:
        assert by_id.setdefault(e["id"], e) == e, "a repeated id with other content"
    assert _keys([audit]) == everything
    reconnects = [min(_ups_after(a.log(), restarted_at), default=-1.0) for a in agents]
    assert min(reconnects) >= 0, "an agent never logged its reconnect"
    assert all(n > 0 for n in shared_steady), f"a consumer got nothing: {shared_steady}"
    ordered = sorted(reconnects)
    record(
        "fleet",
        gateways=GATEWAYS,
        shared_consumers=CONSUMERS,
        broker_down_s=DOWN_S,
        produced=len(everything),
        delivered_distinct=len(by_id),
        deliveries=len(events),
        duplicates=len(events) - len(by_id),
        lost=len(everything - _keys([audit])),
        steady_shared_share=shared_steady,
        steady_shared_missing=len(steady - _keys(shared)),
        restart_shared_missing=len(everything - _keys(shared)),
        reconnect_s_min=round(ordered[0], 2),
        reconnect_s_median=round(statistics.median(ordered), 2),
        reconnect_s_p90=round(ordered[int(0.9 * len(ordered)) - 1], 2),
        reconnect_s_max=round(ordered[-1], 2),
        broker_connections_per_s_peak=_connection_rate_peak(broker.log_text(), restarted_at),
    )
