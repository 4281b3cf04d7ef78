"""Gateway health source: one alarm per transition and one clear when it ends, on fake
sysfs trees with an injected clock; telemetry on its period; unknown never clears."""

from __future__ import annotations

import asyncio
import shutil
from collections import namedtuple
from pathlib import Path
from typing import Any

import pytest

from agent.events import Event, Priority, Severity
from agent.gateway_health import (
    GatewayAlarmData,
    GatewayHealthConfig,
    HealthSource,
    Probes,
    cert_not_after,
)
from tests.spine.test_tls import make_pki

FIRMWARE = "sys/devices/platform/soc/soc:firmware/get_throttled"
Usage = namedtuple("Usage", "total used free")


class World:
    """The fake gateway: a sysfs tree, a disk, a clock and NTP that tests set."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.synced = True
        self.wall = 1_800_000_000.0
        self.mono = 0.0
        self.free_fraction = 0.5
        self.set_throttled("0x0")
        self.write("sys/class/thermal/thermal_zone0/temp", "51000")
        self.write("proc/meminfo", "MemTotal: 1000 kB\nMemAvailable: 600 kB\n")

    def write(self, rel: str, text: str) -> None:
        (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
        (self.root / rel).write_text(text + "\n")

    def set_throttled(self, text: str) -> None:
        self.write(FIRMWARE, text)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    w = World(tmp_path / "root")
    real = shutil.disk_usage

    def usage(path: Any) -> Any:
        if Path(path) == tmp_path:
            return Usage(1000, 1000 - int(w.free_fraction * 1000), int(w.free_fraction * 1000))
        return real(path)

    monkeypatch.setattr(shutil, "disk_usage", usage)
    return w


def source(
    world: World, tmp_path: Path, cert: Path | None = None
) -> tuple[HealthSource, list[Event]]:
    emitted: list[Event] = []

    async def emit(event: Event) -> None:
        emitted.append(event)

    probes = Probes(root=world.root, disk_path=tmp_path, cert_path=cert,
                    clock_synced=lambda: world.synced, now=lambda: world.wall)  # fmt: skip
    cfg = GatewayHealthConfig(interval_s=1, telemetry_every_s=60, disk_low_fraction=0.1)
    return HealthSource(cfg, probes, emit, "/edge/gw/health", monotonic=lambda: world.mono), emitted


def alarms(events: list[Event]) -> list[tuple[str, bool]]:
    return [(e.data["condition"], e.data["active"]) for e in events if e.type == "gateway.alarm"]


def step(hs: HealthSource) -> list[Event]:
    return asyncio.run(hs.step())


def test_each_transition_once_with_a_clear_when_it_ends(world: World, tmp_path: Path) -> None:
    hs, _ = source(world, tmp_path)
    first = step(hs)
    assert alarms(first) == []  # healthy at start: nothing to say but telemetry
    assert [e.type for e in first] == ["gateway.telemetry"]
    world.set_throttled("0x50005")  # under-voltage now, throttled now, both occurred
    world.mono += 1
    assert alarms(step(hs)) == [("under_voltage", True), ("throttled", True)]
    world.mono += 1
    assert step(hs) == []  # still the same: no repeat
    world.set_throttled("0x50000")  # ended (only "occurred" bits left)
    world.mono += 1
    assert alarms(step(hs)) == [("under_voltage", False), ("throttled", False)]
    world.free_fraction, world.synced = 0.05, False
    world.mono += 1
    raised = step(hs)
    assert alarms(raised) == [("disk_low", True), ("clock_unsynced", True)]
    disk = next(e for e in raised if e.data["condition"] == "disk_low")
    assert disk.priority is Priority.ALARM and disk.severity is Severity.CRITICAL
    GatewayAlarmData.model_validate(disk.data)
    world.free_fraction, world.synced = 0.5, True
    world.mono += 1
    cleared = step(hs)
    assert alarms(cleared) == [("disk_low", False), ("clock_unsynced", False)]
    assert all(e.severity is Severity.INFO for e in cleared)


def test_a_reading_that_becomes_unavailable_clears_nothing(world: World, tmp_path: Path) -> None:
    hs, _ = source(world, tmp_path)
    world.set_throttled("0x1")
    assert alarms(step(hs)) == [("under_voltage", True)]
    (world.root / FIRMWARE).unlink()
    world.mono += 1
    assert step(hs) == []
    assert hs.latest is not None and hs.latest.under_voltage_now is None


def test_telemetry_on_its_period_with_the_readings(world: World, tmp_path: Path) -> None:
    hs, _ = source(world, tmp_path)
    tele = [e for e in step(hs) if e.type == "gateway.telemetry"]
    assert tele and tele[0].priority is Priority.TELEMETRY
    data = tele[0].data
    assert data["cpu_temp_c"] == 51.0 and data["memory_used_fraction"] == 0.4
    assert data["throttled_raw"] == 0 and data["disk_free_fraction"] == 0.5
    world.mono += 30
    assert step(hs) == []
    world.mono += 30
    assert [e.type for e in step(hs)] == ["gateway.telemetry"]


def test_certificate_expiring_within_30_days_alarms_once(world: World, tmp_path: Path) -> None:
    make_pki(tmp_path)  # client certificate valid for 2 days
    cert = tmp_path / "client.crt"
    not_after = cert_not_after(cert)
    assert not_after is not None
    world.wall = not_after - 40 * 86400  # 40 days left: fine
    hs, _ = source(world, tmp_path, cert)
    assert alarms(step(hs)) == []
    world.wall = not_after - 29 * 86400
    world.mono += 1
    raised = step(hs)
    assert alarms(raised) == [("cert_expiring", True)]
    assert raised[0].data["value"] == pytest.approx(29.0, abs=0.1)
    world.mono += 1
    assert step(hs) == []
