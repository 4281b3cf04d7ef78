"""The no-loss end-to-end run against a second MQTT v5 broker: ejabberd's mod_mqtt.

issue 16 item 2 ("we depend on the standard, not on one broker's quirks"). The same
agent and the same checks as tests/reliability/test_sigkill.py, against ejabberd
instead of Mosquitto: two synthetic drivers (alarms and events) produce while the agent
is SIGKILLed at random instants and the broker itself is stopped and started again.
Pass: every produced event arrives, repeated ids carry identical content, per-priority
order after de-duplication, no gap in seq. Also the retained birth message (MQTT v5
will and retain) reads ``online`` at the end.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import ejabberd
from tests.broker import Subscriber
from tests.reliability.figures import record
from tests.reliability.test_sigkill import _check_order
from tests.spine.agentproc import AgentProcess, synthetic, write_config

ALARMS, EVENTS, KILLS = 100, 2000, 8


def _platform(port: int) -> Subscriber:
    return Subscriber(port, username=ejabberd.PLATFORM_USERNAME, password=ejabberd.PASSWORD)


def _events(subs: list[Subscriber]) -> list[dict[str, Any]]:
    return [e for s in subs for e in s.events() if e["type"] == "synthetic.sample"]


def _missing(subs: list[Subscriber]) -> str:
    got = {(e["priority"], e["data"]["n"]) for e in _events(subs)}
    want = {("alarm", n) for n in range(ALARMS)} | {("event", n) for n in range(EVENTS)}
    per_sub = [len(s.events()) for s in subs]
    miss = sorted(want - got)
    if miss:
        near = {miss[0][1] - 1, miss[-1][1] + 1}
        for e in _events(subs):
            if e["priority"] == miss[0][0] and e["data"]["n"] in near:
                print("neighbour", e["data"]["n"], e["time"], e["seq"])
    return f"{len(want - got)} missing, e.g. {sorted(want - got)[:20]}; per session {per_sub}"


@pytest.fixture
def second_broker(tmp_path: Path) -> Iterator[ejabberd.Ejabberd]:
    why = ejabberd.available()
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the interop test: {why}")
        pytest.skip(why)
    b = ejabberd.Ejabberd().start()
    yield b
    b.stop()
    (tmp_path / "ejabberd.log").write_text(b.log_text())  # kept with the test's files
    b.remove()


def test_no_loss_across_kills_and_a_broker_restart_on_ejabberd(
    tmp_path: Path, second_broker: ejabberd.Ejabberd
) -> None:
    port = second_broker.port
    cfg = write_config(
        tmp_path / "c.yaml",
        port=port,
        buffer=tmp_path / "b.db",
        mqtt={
            "host": "127.0.0.1",
            "port": port,
            "insecure": True,
            "username": ejabberd.USERNAME,
            "password": ejabberd.PASSWORD,
            "reconnect_max_s": 2.0,
            "timeout_s": 5.0,
        },
        extra={"state_dir": str(tmp_path / "state")},
        drivers=[
            synthetic(ALARMS, 10, "alarm", name="alarms"),
            synthetic(EVENTS, 200, "event", name="events"),
        ],
    )
    subs = [_platform(port)]  # a new platform session after the broker's restart
    log = tmp_path / "agent.log"
    rng = random.Random(162)
    agent = AgentProcess(cfg, log)
    try:
        for i in range(KILLS):
            agent = AgentProcess(cfg, log).start()
            time.sleep(rng.uniform(0.5, 1.5))
            agent.kill()
            if i == KILLS // 2:
                # The broker goes away too, while the agent is down and while it runs
                # (producing into its outbox, failing to connect). The platform's new
                # session subscribes before the agent comes back: a broker drops what is
                # published to a topic nobody is subscribed to.
                second_broker.stop()
                agent = AgentProcess(cfg, log).start()
                time.sleep(2.0)
                agent.kill()
                second_broker.start()
                subs[-1].close()  # its messages are kept; paho would reconnect it
                subs.append(_platform(port))
        agent = AgentProcess(cfg, log).start()

        def done(_s: Subscriber) -> bool:
            ns = {(e["priority"], e["data"]["n"]) for e in _events(subs)}
            return len(ns) >= ALARMS + EVENTS

        assert subs[-1].wait(done, float(os.environ.get("INTEROP_WAIT_S", 180))), _missing(subs)

        def online(s: Subscriber) -> bool:
            births = s.on_topic("/status")
            return bool(births) and json.loads(births[-1])["state"] == "online"

        assert subs[-1].wait(online, 30)
        assert agent.terminate() == 0
    finally:
        if agent.alive():
            agent.kill()
        subs[-1].close()
    events = _events(subs)
    by_id: dict[str, dict[str, Any]] = {}
    for e in events:
        assert by_id.setdefault(e["id"], e) == e, "a repeated id with other content"
    got = {(e["priority"], e["data"]["n"]) for e in by_id.values()}
    want = {("alarm", n) for n in range(ALARMS)} | {("event", n) for n in range(EVENTS)}
    assert got == want, f"missing {sorted(want - got)[:10]}"
    _check_order(events)
    record(
        "interop_ejabberd",
        broker="ejabberd mod_mqtt (Debian)",
        kills=KILLS,
        broker_restarts=1,
        produced=ALARMS + EVENTS,
        delivered_distinct=len(by_id),
        deliveries=len(events),
        duplicates=len(events) - len(by_id),
        lost=len(want - got),
    )
