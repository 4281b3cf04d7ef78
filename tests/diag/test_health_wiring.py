"""The health source wired in the agent: a fake sysfs tree flips under-voltage on and off,
and the platform receives exactly one alarm and one clear, through the real broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.broker import Mosquitto, Subscriber
from tests.spine.agentproc import AgentProcess, synthetic, write_config

FIRMWARE = "sys/devices/platform/soc/soc:firmware/get_throttled"


def under_voltage(sub: Subscriber) -> list[bool]:
    return [
        e["data"]["active"]
        for e in sub.events()
        if e["type"] == "gateway.alarm" and e["data"]["condition"] == "under_voltage"
    ]


def test_under_voltage_alarm_and_clear_reach_the_platform_once_each(
    tmp_path: Path, broker: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGE_AGENT_ASSUME_CLOCK_SYNC", "1")
    root = tmp_path / "root"
    firmware = root / FIRMWARE
    firmware.parent.mkdir(parents=True)
    firmware.write_text("0x50005\n")
    cfg = write_config(
        tmp_path / "c.yaml",
        port=broker.port,
        buffer=tmp_path / "b.db",
        drivers=[synthetic(1, 1)],
        extra={"health": {"interval_s": 1, "telemetry_every_s": 10, "sysfs_root": str(root)}},
    )
    sub = Subscriber(broker.port)
    agent = AgentProcess(cfg, tmp_path / "agent.log").start()
    try:
        assert sub.wait(lambda s: under_voltage(s) == [True], 30), agent.log()
        assert sub.wait(lambda s: any(e["type"] == "gateway.telemetry" for e in s.events()), 30)
        firmware.write_text("0x50000\n")  # ended; only the "since boot" bits remain
        assert sub.wait(lambda s: under_voltage(s) == [True, False], 30), agent.log()
        tele = [e for e in sub.events() if e["type"] == "gateway.telemetry"]
        assert tele[0]["data"]["throttled_raw"] == 0x50005
        # One more measurement round after the clear: still exactly one of each.
        rounds = len(tele)
        assert sub.wait(
            lambda s: len([e for e in s.events() if e["type"] == "gateway.telemetry"]) > rounds,
            30,
        )
        assert under_voltage(sub) == [True, False]
    finally:
        assert agent.terminate() == 0
        sub.close()
