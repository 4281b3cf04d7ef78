"""SIGKILL of the real agent at 50 random instants, and 10 times on receipt.

anchors-reliability.md §6.1. Two synthetic drivers (alarms and events) produce while
the forwarder drains into a real Mosquitto. The first 10 starts end in a kill on
receipt: a platform-side subscriber SIGKILLs the agent from its message callback, i.e.
right after the broker took a PUBLISH and sent its PUBACK, before the agent can have
deleted every acknowledged row (between PUBACK and delete). The next 50 starts end in a
SIGKILL at a random instant 0.2-0.9 s after the start (start-up, producing, publishing,
acknowledging, checkpointing). Pass: every event the drivers produced arrives (their
durable counters say which), duplicates carry identical content, per-priority order is
kept after de-duplication, and the event seq numbers have no gap.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from tests.broker import Mosquitto, Subscriber
from tests.reliability.figures import record
from tests.spine.agentproc import AgentProcess, synthetic, write_config

RANDOM_KILLS = 50
RECEIPT_KILLS = 10
ALARMS, EVENTS = 300, 6000


class KillOnReceipt(Subscriber):
    """A platform subscriber that, when armed, SIGKILLs the agent on the next message."""

    def __init__(self, port: int) -> None:
        self.target: AgentProcess | None = None
        self.fired = threading.Event()
        super().__init__(port, client_id="killer")

    def _on_message(self, c: Any, u: Any, msg: mqtt.MQTTMessage) -> None:
        super()._on_message(c, u, msg)
        if "/events/" not in msg.topic:
            return  # the retained birth message, say
        target, self.target = self.target, None
        if target is not None and target.proc is not None:
            target.proc.send_signal(signal.SIGKILL)
            self.fired.set()


def _produced(state_dir: Path, name: str) -> int:
    try:
        return int((state_dir / f"synthetic-{name}.next").read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def _check_order(events: list[dict[str, Any]]) -> None:
    """After de-duplication by id, each priority arrives in seq order."""
    seen: set[str] = set()
    last: dict[str, int] = {}
    for e in events:
        if e["id"] in seen:
            continue
        seen.add(e["id"])
        prio = e["priority"]
        assert e["seq"] > last.get(prio, 0), f"{prio} out of order at seq {e['seq']}"
        last[prio] = e["seq"]


def test_fifty_random_kills_and_kills_between_puback_and_delete_lose_nothing(
    tmp_path: Path, broker: Mosquitto
) -> None:
    sub = KillOnReceipt(broker.port)
    cfg = write_config(
        tmp_path / "c.yaml",
        port=broker.port,
        buffer=tmp_path / "b.db",
        extra={"state_dir": str(tmp_path / "state")},
        drivers=[
            synthetic(ALARMS, 10, "alarm", name="alarms"),
            synthetic(EVENTS, 200, "event", name="events"),
        ],
    )
    rng = random.Random(16)
    log = tmp_path / "agent.log"
    agent = AgentProcess(cfg, log)
    receipt_kills = 0
    try:
        # The kills on receipt first, while both drivers are still producing; then the
        # random ones.
        for i in range(RECEIPT_KILLS + RANDOM_KILLS):
            agent = AgentProcess(cfg, log).start()
            if i >= RECEIPT_KILLS:
                time.sleep(rng.uniform(0.2, 0.9))
                agent.kill()
                continue
            sub.target = agent
            fired = sub.fired.wait(15)
            sub.target = None
            sub.fired.clear()
            receipt_kills += fired
            if not fired:
                agent.kill()
            assert agent.proc is not None
            agent.proc.wait(10)
        produced_at_kills = (
            _produced(tmp_path / "state", "alarms"),
            _produced(tmp_path / "state", "events"),
        )
        started = log.read_text(errors="replace").count(" running as gw-0001 ")
        agent = AgentProcess(cfg, log).start()

        def done(s: Subscriber) -> bool:
            ns = {(e["type"], e["priority"], e["data"]["n"]) for e in s.events()}
            return len(ns) >= ALARMS + EVENTS

        assert sub.wait(done, 180), f"delivered {len(sub.events())}"
        assert sub.wait(lambda _s: agent.log().count(" running as gw-0001 ") > started, 30)
        assert agent.terminate() == 0
    finally:
        if agent.alive():
            agent.kill()
        sub.close()
    events = [e for e in sub.events() if e["type"] == "synthetic.sample"]
    by_id: dict[str, dict[str, Any]] = {}
    for e in events:
        assert by_id.setdefault(e["id"], e) == e, "a repeated id with other content"
    got = {(e["priority"], e["data"]["n"]) for e in by_id.values()}
    want = {("alarm", n) for n in range(ALARMS)} | {("event", n) for n in range(EVENTS)}
    assert got == want, f"missing {sorted(want - got)[:10]}"
    _check_order(events)
    seqs = {e["seq"] for e in sub.events()}
    assert seqs == set(range(1, max(seqs) + 1)), "gap in seq"
    assert receipt_kills >= RECEIPT_KILLS // 2, "kills on receipt did not land"
    record(
        "sigkill",
        random_kills=RANDOM_KILLS,
        kills_on_receipt=receipt_kills,
        produced=ALARMS + EVENTS,
        produced_before_last_start=sum(produced_at_kills),
        delivered_distinct=len(by_id),
        deliveries=len(events),
        duplicates=len(events) - len(by_id),
        lost=len(want - got),
    )
