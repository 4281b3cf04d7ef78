"""Elevators end to end: simulator process -> agent process -> real Mosquitto -> platform.

What the platform operator sees (issue 11 acceptance): a mains-failure entrapment at a
floor is one ENTRAP_LEVEL alarm, cleared once with a reason; killing the simulator (the
monitoring box loses power) is one COMM_LOST alarm per lift, and bringing it back is
one ``online`` event per lift, also when the agent was restarted while the box was down.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.broker import Mosquitto, Subscriber, free_port, wait_port
from tests.conftest import REPO
from tests.spine.agentproc import AgentProcess, wait_for, write_config

SPEED = 5.0  # the scenario's 90 s at a floor take 18 s; holds shrink alike


class Simulator:
    """``edge-agent simulate elevator`` as its own process on a fixed TCP port."""

    def __init__(self, port: int, units: list[str]) -> None:
        self.port = port
        self.units = units
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Simulator:
        args = [sys.executable, "-m", "agent", "simulate", "elevator", "--port", str(self.port),
                "--speed", str(SPEED)]  # fmt: skip
        for unit in self.units:
            args += ["--unit", unit]
        self.proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL)
        wait_port(self.port, timeout=30)
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    b = Mosquitto(tmp_path).start()
    yield b
    b.stop()


def _agent(tmp_path: Path, broker: Mosquitto, sim_port: int) -> AgentProcess:
    devices = [
        {"id": f"lift-{u}", "unit_id": u, "profile": "gb-monitor-box", "time_speed": SPEED,
         "poll_periods_ms": {"fast": 200}}
        for u in (1, 2)
    ]  # fmt: skip
    driver = {"name": "lifts", "kind": "modbus", "port": sim_port, "request_timeout_ms": 500,
              "offline_probe_interval_ms": 500, "devices": devices}  # fmt: skip
    cfg = write_config(tmp_path / "agent.yaml", port=broker.port, buffer=tmp_path / "b.db",
                       drivers=[driver])  # fmt: skip
    return AgentProcess(cfg, tmp_path / "agent.log")


def _of(sub: Subscriber, type_: str, **data: Any) -> list[dict[str, Any]]:
    return [
        e
        for e in sub.events()
        if e["type"] == type_ and all(e["data"].get(k) == v for k, v in data.items())
    ]


def _lifts_reporting(sub: Subscriber) -> bool:
    return {e["subject"] for e in _of(sub, "elevator.status")} == {"lift-1", "lift-2"}


def test_mains_failure_entrapment_reaches_the_platform_once(
    tmp_path: Path, broker: Mosquitto
) -> None:
    sub = Subscriber(broker.port)
    sim = Simulator(free_port(), ["1=mains-failure-entrapment", "2=normal"]).start()
    agent = _agent(tmp_path, broker, sim.port).start()
    try:
        cleared = lambda s: _of(s, "elevator.alarm", key="ENTRAP_LEVEL", state="cleared")  # noqa: E731
        assert sub.wait(cleared, 90), agent.log()
        # Positive signal that nothing else is still on its way: POWER_LOSS clears after.
        assert sub.wait(lambda s: _of(s, "elevator.event", key="POWER_LOSS", state="cleared"), 30)
    finally:
        agent.terminate()
        sim.kill()
        sub.close()
    alarms = _of(sub, "elevator.alarm")
    assert [(e["subject"], e["data"]["key"], e["data"]["state"]) for e in alarms] == [
        ("lift-1", "ENTRAP_LEVEL", "raised"),
        ("lift-1", "ENTRAP_LEVEL", "cleared"),
    ]
    raised, clear = alarms
    assert raised["priority"] == "alarm" and raised["severity"] == "critical"
    assert raised["data"]["snapshot"]["service_mode"] == "emergency_power"
    assert raised["data"]["snapshot"]["power_on_mains"] is False
    assert clear["data"]["episode"] == raised["data"]["episode"]
    assert clear["data"]["reason"] == "condition_ended"
    modes = [(e["data"]["from"], e["data"]["to"]) for e in _of(sub, "elevator.mode")]
    assert ("normal", "emergency_power") in modes
    assert not _of(sub, "elevator.fault")


def test_killed_simulator_one_comm_lost_per_lift_and_back_across_agent_restart(
    tmp_path: Path, broker: Mosquitto
) -> None:
    sub = Subscriber(broker.port)
    sim = Simulator(free_port(), ["1=normal", "2=normal"]).start()
    agent = _agent(tmp_path, broker, sim.port).start()
    try:
        assert sub.wait(_lifts_reporting, 60), agent.log()
        sim.kill()  # the monitoring box loses power
        offline = lambda s: len(_of(s, "elevator.health", state="offline")) == 2  # noqa: E731
        assert sub.wait(offline, 60), agent.log()
        assert agent.terminate() == 0
        # The agent restarts while the box is still dark.
        agent = AgentProcess(agent.config, agent.log_path).start()
        restored = lambda: agent.log().count("still offline from before the restart") == 2  # noqa: E731
        assert wait_for(restored, 60), agent.log()
        # Positive signal that the new driver met the dead bus: its own "failing" report.
        failing = lambda s: len(_of(s, "gateway.health", state="failing")) == 2  # noqa: E731
        assert sub.wait(failing, 60), agent.log()
        sim.start()  # power is back
        online = lambda s: len(_of(s, "elevator.health", state="online")) == 2  # noqa: E731
        assert sub.wait(online, 60), agent.log()
    finally:
        if agent.alive():
            agent.terminate()
        sim.kill()
        sub.close()
    health = _of(sub, "elevator.health")
    assert [e["data"]["state"] for e in health] == ["offline"] * 2 + ["online"] * 2
    down = {e["subject"]: e for e in health[:2]}
    up = {e["subject"]: e for e in health[2:]}
    assert set(down) == set(up) == {"lift-1", "lift-2"}
    for lift, e in down.items():
        assert e["priority"] == "alarm" and e["severity"] == "critical"
        assert e["data"]["key"] == "COMM_LOST" and e["data"]["reason"] == "bus_unavailable"
        assert up[lift]["data"]["episode"] == e["data"]["episode"]
        assert up[lift]["data"]["reason"] == "answering_again"
    warnings = _of(sub, "gateway.health", state="failing")
    assert all(e["severity"] == "warning" for e in warnings)
