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
from tests.shared_data import REPO
from tests.spine.agentproc import AgentProcess, wait_for, write_config

SPEED = 5.0  # the scenario's 90 s at a floor take 18 s; holds shrink alike


class Simulator:
    """``edge-agent simulate elevator`` as its own process on a fixed TCP port."""

    def __init__(self, port: int, units: list[str], lead_s: float | None = None) -> None:
        self.port = port
        self.units = units
        self.lead_s = lead_s
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Simulator:
        args = [sys.executable, "-m", "agent", "simulate", "elevator", "--port", str(self.port),
                "--speed", str(SPEED)]  # fmt: skip
        for unit in self.units:
            args += ["--unit", unit]
        if self.lead_s is not None:
            args += ["--lead", str(self.lead_s)]
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


def _agent(tmp_path: Path, broker: Mosquitto, sim_port: int, lifts: int = 2) -> AgentProcess:
    devices = [
        {"id": f"lift-{u}", "unit_id": u, "profile": "gb-monitor-box", "time_speed": SPEED,
         "poll_periods_ms": {"fast": 200}}
        for u in range(1, lifts + 1)
    ]  # fmt: skip
    # 1.5 s: a simulator starved by a loaded machine is slow, not gone (no false COMM_LOST).
    driver = {"name": "lifts", "kind": "modbus", "port": sim_port, "request_timeout_ms": 1500,
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


ISSUE_11 = ["mains-failure-entrapment", "overtravel-direction-dropped", "re-levelling",
            "fire-return"]  # fmt: skip


def _lifecycle(sub: Subscriber, lift: str) -> list[tuple[str, str, str]]:
    kinds = ("elevator.alarm", "elevator.fault", "elevator.event", "elevator.health")
    return [
        (e["type"], e["data"]["key"], e["data"]["state"])
        for e in sub.events()
        if e["subject"] == lift and e["type"] in kinds
    ]


def test_issue_11_scenarios_reach_the_platform_as_they_should(
    tmp_path: Path, broker: Mosquitto
) -> None:
    """Mains-failure entrapment once, with a reason; the three rule refinements hold."""
    sub = Subscriber(broker.port)
    units = [f"{n}={name}" for n, name in enumerate(ISSUE_11, start=1)]
    # 60 simulated seconds (12 s) of normal traffic first: the agent process is polling
    # before any script starts, however slowly it boots on a loaded machine.
    sim = Simulator(free_port(), units, lead_s=60).start()
    agent = _agent(tmp_path, broker, sim.port, lifts=len(units)).start()
    try:
        cleared = lambda s: _of(s, "elevator.event", key="POWER_LOSS", state="cleared")  # noqa: E731
        assert sub.wait(cleared, 90), agent.log()
        # fire-return is the longest script (100 s parked): its return to normal service
        # is the positive signal that every scenario has run to its end.
        back = lambda s: _of(s, "elevator.mode", **{"from": "fire_return", "to": "normal"})  # noqa: E731
        assert sub.wait(back, 90), agent.log()
        assert sub.wait(
            lambda s: _of(s, "elevator.fault", key="OVERTRAVEL_TOP", state="cleared"), 30
        )
    finally:
        agent.terminate()
        sim.kill()
        sub.close()
    assert _lifecycle(sub, "lift-1") == [
        ("elevator.event", "POWER_LOSS", "raised"),
        ("elevator.alarm", "ENTRAP_LEVEL", "raised"),
        ("elevator.alarm", "ENTRAP_LEVEL", "cleared"),
        ("elevator.event", "POWER_LOSS", "cleared"),
    ]
    raised, clear = _of(sub, "elevator.alarm")
    assert raised["priority"] == "alarm" and raised["severity"] == "critical"
    assert raised["data"]["snapshot"]["service_mode"] == "emergency_power"
    assert raised["data"]["snapshot"]["power_on_mains"] is False
    assert clear["data"]["episode"] == raised["data"]["episode"]
    assert clear["data"]["reason"] == "condition_ended"
    # Overtravel with the direction dropped: critical overtravel, not a stop out of zone.
    assert _lifecycle(sub, "lift-2") == [
        ("elevator.fault", "OVERTRAVEL_TOP", "raised"),
        ("elevator.fault", "OVERTRAVEL_TOP", "cleared"),
    ]
    (over, _) = _of(sub, "elevator.fault", key="OVERTRAVEL_TOP")
    assert over["severity"] == "critical" and over["priority"] == "alarm"
    # Re-levelling and early opening in the zone, and fire return with doors open: silent.
    assert _lifecycle(sub, "lift-3") == []
    assert _lifecycle(sub, "lift-4") == []
    modes = [(e["subject"], e["data"]["from"], e["data"]["to"]) for e in _of(sub, "elevator.mode")]
    assert ("lift-1", "normal", "emergency_power") in modes
    assert ("lift-4", "normal", "fire_return") in modes


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
        start = len(agent.log())
        agent = AgentProcess(agent.config, agent.log_path).start()
        restored = lambda: agent.log()[start:].count("still offline from before the restart") >= 2  # noqa: E731
        assert wait_for(restored, 60), agent.log()
        # Positive signal that the new driver met the dead bus and gave up (after any
        # offline alarm it would raise): the supervisor's "failing" transition.
        failing = lambda: "driver lifts failing" in agent.log()[start:]  # noqa: E731
        assert wait_for(failing, 60), agent.log()
        sim.start()  # power is back
        online = lambda s: len(_of(s, "elevator.health", state="online")) == 2  # noqa: E731
        assert sub.wait(online, 60), agent.log()
    finally:
        if agent.alive():
            agent.terminate()
        sim.kill()
        sub.close()
    health = _of(sub, "elevator.health")
    summary = [(e["subject"], e["data"]["state"], e["data"]["reason"]) for e in health]
    assert [e["data"]["state"] for e in health] == ["offline"] * 2 + ["online"] * 2, summary
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
