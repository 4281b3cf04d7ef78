"""Driver <-> simulator through a real pseudo-terminal pair, in accelerated time."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from agent.driver import DriverContext
from drivers.serial.config import SerialConfig
from drivers.serial.driver import SerialDriver
from drivers.serial.simulator.runner import Runner, open_pty
from drivers.serial.simulator.scenarios import build
from tests.sinks import ListSink

SPEED = 1200.0


def config(port: str, codec: str, devices: list[dict[str, Any]], **kw: Any) -> SerialConfig:
    return SerialConfig(name="wear", kind="serial", port=port, codec=codec,
                        devices=devices, time_speed=kw.pop("speed", SPEED), **kw)  # fmt: skip


def bracelet(n: int) -> dict[str, Any]:
    return {"id": f"band-{n}", "resident": f"r{n:04d}", "frame_id": f"{n:08x}"}


async def play(tmp: Path, scenario: str, duration: float = 3600.0) -> ListSink:
    """Run one scenario end to end; return what the driver emitted."""
    master, slave, path = open_pty()
    codec = "seeed5359" if scenario == "radar_fall" else "bracelet"
    dev = {"id": "radar-1", "resident": "r0001"} if codec != "bracelet" else bracelet(1)
    driver = SerialDriver(config(path, codec, [dev]), DriverContext("gw", tmp))
    sink = ListSink()
    task = asyncio.create_task(driver.run(sink))
    try:
        await asyncio.sleep(0.05)  # the driver opens the port (a pty buffers anyway)
        await Runner(master, build(scenario, 1, duration), speed=SPEED, duration=duration).run()
        await asyncio.sleep(0.2)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        os.close(master)
        os.close(slave)
    return sink


def episodes(sink: ListSink) -> list[tuple[str, str, str, str]]:
    """(key, state, priority, severity) of every episode event, in order."""
    return [(e.data["key"], e.data["state"], e.priority.label, e.severity.value)
            for e in sink.events if "key" in e.data]  # fmt: skip
