"""Port unplug/replug through the supervisor, and a restart during an open episode."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from agent.config import HealthConfig
from agent.driver import DriverContext
from agent.registry import create_driver
from agent.supervisor import Supervisor
from drivers.serial.codec_bracelet import CMD_STATUS, encode_frame, status_tlvs
from drivers.serial.driver import SerialDriver
from drivers.serial.simulator.runner import open_pty
from drivers.synthetic.config import SyntheticConfig
from tests.serial.harness import bracelet, config
from tests.sinks import ListSink


def _status(seq: int, spo2: int = 97) -> bytes:
    return encode_frame(CMD_STATUS, seq, 1, status_tlvs(hr=70, spo2=spo2, wear=True))


def test_unplugged_port_reports_offline_then_online_once(tmp_path: Path) -> None:
    async def scenario() -> ListSink:
        link = tmp_path / "by-id-bracelet"
        master, slave, path = open_pty(link)
        serial_cfg = config(path, "bracelet", [bracelet(1)], speed=1.0)
        synth = SyntheticConfig(name="synth", kind="synthetic", count=0, rate_hz=20)
        sink = ListSink()
        ctx = DriverContext("gw", tmp_path)
        sup = Supervisor([serial_cfg, synth], lambda c: create_driver(c, ctx), sink,
                         gateway_id="gw",
                         health=HealthConfig(restart_base_s=0.05, restart_max_s=0.2,
                                             healthy_after_s=0.1))  # fmt: skip
        task = asyncio.create_task(sup.run())
        await asyncio.sleep(0.2)
        os.write(master, _status(1))
        # Unplug: both ends go away while the driver reads; the path dangles for a while.
        os.close(master)
        os.close(slave)
        await sink.wait_for("serial.port", 1)
        await asyncio.sleep(0.5)  # several failed reopen attempts happen here
        master, slave, _ = open_pty(link)
        await sink.wait_for("serial.port", 2)
        await asyncio.sleep(0.3)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        os.close(master)
        os.close(slave)
        return sink

    sink = asyncio.run(scenario())
    states = [e.data["state"] for e in sink.of_type("serial.port")]
    assert states == ["offline", "online"]
    synth_health = [e for e in sink.of_type("gateway.health") if e.data["driver"] == "synth"]
    assert synth_health == []  # the other driver never noticed
    assert sink.of_type("synthetic")


def test_restart_during_low_spo2_neither_raises_twice_nor_loses_clear(tmp_path: Path) -> None:
    speed = 600.0  # 5 min window = 0.5 s

    async def run_once(frames: list[tuple[int, int]]) -> ListSink:
        master, slave, path = open_pty()
        drv = SerialDriver(config(path, "bracelet", [bracelet(1)], speed=speed),
                           DriverContext("gw", tmp_path))  # fmt: skip
        sink = ListSink()
        task = asyncio.create_task(drv.run(sink))
        for seq, spo2 in frames:
            os.write(master, _status(seq, spo2))
            await asyncio.sleep(60 / speed)
        await asyncio.sleep(0.1)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        os.close(master)
        os.close(slave)
        return sink

    first = asyncio.run(run_once([(i, 90) for i in range(1, 9)]))
    raised = [e for e in first.events if e.data.get("key") == "SPO2_LOW"]
    assert [e.data["state"] for e in raised] == ["raised"]
    # After the restart: still low (no second raise), then normal (the clear, same id).
    second = asyncio.run(run_once([(20, 90), (21, 90), (22, 97)]))
    again = [e for e in second.events if e.data.get("key") == "SPO2_LOW"]
    assert [e.data["state"] for e in again] == ["cleared"]
    assert again[0].data["episode"] == raised[0].data["episode"]
