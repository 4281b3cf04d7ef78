"""Run the real driver against the real simulator (TCP or RTU through a pty pair)."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.driver import DriverContext
from drivers.modbus.config import ModbusConfig
from drivers.modbus.driver import ModbusDriver
from drivers.modbus.profile import load_profile
from drivers.modbus.simulator.scenarios import SCENARIOS, Scenario
from drivers.modbus.simulator.server import (
    RunningServer,
    SimulatedDevice,
    make_devices,
    start_rtu_pty,
    start_tcp,
)
from tests.sinks import ListSink


@dataclass
class Bus:
    running: RunningServer
    devices: list[SimulatedDevice]
    rtu: bool

    def bus_config(self, devices: Sequence[dict[str, Any]], **extra: Any) -> ModbusConfig:
        cfg: dict[str, Any] = {
            "name": "lifts",
            "kind": "modbus",
            "request_timeout_ms": 100,
            "offline_probe_interval_ms": 1000,
            "devices": list(devices),
        }
        if self.rtu:
            cfg.update(transport="rtu", serial_port=self.running.path, baudrate=115200)
        else:
            cfg.update(port=self.running.port)
        cfg.update(extra)
        return ModbusConfig.model_validate(cfg)


@contextlib.asynccontextmanager
async def simulated_bus(
    profile: str,
    scenarios: Sequence[str | Scenario],
    *,
    rtu: bool = False,
    speed: float = 30.0,
    seed: int = 1,
) -> AsyncIterator[Bus]:
    chosen = [SCENARIOS[s] if isinstance(s, str) else s for s in scenarios]
    devices = make_devices(load_profile(profile), chosen, speed=speed, seed=seed)
    running = await (start_rtu_pty(devices) if rtu else start_tcp(devices))
    try:
        yield Bus(running, devices, rtu)
    finally:
        await running.stop()


@contextlib.asynccontextmanager
async def running_driver(
    config: ModbusConfig, state_dir: Path | None = None
) -> AsyncIterator[tuple[ModbusDriver, ListSink]]:
    sink = ListSink()
    with tempfile.TemporaryDirectory() as tmp:
        driver = ModbusDriver(config, DriverContext("gw-test", state_dir or Path(tmp)))
        task = asyncio.create_task(driver.run(sink), name=f"driver[{driver.name}]")
        try:
            yield driver, sink
            assert not task.done(), f"driver stopped: {task.exception()}"
        finally:
            task.cancel()
            # The driver must stop promptly when cancelled (the supervisor relies on it).
            done, _ = await asyncio.wait({task}, timeout=5)
            assert done, "driver ignored cancellation"
            with contextlib.suppress(asyncio.CancelledError):
                await task


def device_entry(unit: int, profile: str, speed: float, **extra: Any) -> dict[str, Any]:
    entry = {
        "id": f"lift-{unit}",
        "unit_id": unit,
        "profile": profile,
        "time_speed": speed,
        "poll_periods_ms": {"fast": 50},
    }
    entry.update(extra)
    return entry


def lifecycle(sink: ListSink, subject: str) -> list[tuple[str, str, str]]:
    """(type, key, state) of the fault, alarm, event and health events for one device."""
    kinds = ("elevator.alarm", "elevator.fault", "elevator.event", "elevator.health")
    return [
        (e.type, e.data["key"], e.data["state"])
        for e in sink.events
        if e.subject == subject and e.type in kinds
    ]


async def wait_until(predicate: Any, timeout: float, step: float = 0.05) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(step)
