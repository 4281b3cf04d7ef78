"""One bus, two devices, one silent; and link faults never crash the driver."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import statistics
import tempfile
from pathlib import Path

import pytest

from agent.driver import DriverContext, DriverError
from drivers.modbus.config import ModbusConfig
from drivers.modbus.driver import ModbusDriver
from drivers.modbus.simulator.scenarios import Scenario, Step
from tests.modbus.harness import device_entry, lifecycle, running_driver, simulated_bus, wait_until
from tests.sinks import ListSink

SILENT_THEN_BACK = Scenario(
    "silent-then-back",
    "silent for 5 s",
    lead_s=0.5,
    steps=(Step(5.0, link="silent", freeze=False),),
)
PERIOD_S = 0.2


@pytest.mark.parametrize("rtu", [False, True], ids=["tcp", "rtu-pty"])
def test_healthy_device_keeps_its_period_while_the_other_is_silent(rtu: bool) -> None:
    async def main() -> None:
        async with simulated_bus(
            "gb-monitor-box", ["normal", SILENT_THEN_BACK], rtu=rtu, speed=1.0
        ) as bus:
            entries = [
                device_entry(
                    u, "gb-monitor-box", 1.0, poll_periods_ms={"fast": int(PERIOD_S * 1000)}
                )
                for u in (1, 2)
            ]
            config = bus.bus_config(entries, request_timeout_ms=150, offline_probe_interval_ms=1000)
            async with running_driver(config) as (driver, sink):
                await wait_until(lambda: bus.devices[1].model.finished, timeout=20)
                await wait_until(lambda: len(lifecycle(sink, "lift-2")) >= 2, timeout=10)
                await asyncio.sleep(0.5)
            assert driver.scheduler is not None
            healthy = next(
                j for j in driver.scheduler.jobs if j.device.unit_id == 1 and j.group == "fast"
            )
        intervals = [b - a for a, b in zip(healthy.starts, healthy.starts[1:], strict=False)]
        assert len(intervals) >= 20
        # Behaviour check, robust on a loaded machine: median and mean over many periods.
        assert abs(statistics.median(intervals) - PERIOD_S) <= 0.1 * PERIOD_S
        assert abs(statistics.fmean(intervals) - PERIOD_S) <= 0.1 * PERIOD_S
        assert lifecycle(sink, "lift-1") == []
        assert lifecycle(sink, "lift-2") == [
            ("elevator.health", "COMM_LOST", "offline"),
            ("elevator.health", "COMM_LOST", "online"),
        ]
        offline = sink.of_type("elevator.health")[0]
        assert offline.priority.label == "alarm" and offline.data["reason"] == "timeout"

    asyncio.run(main())


def _config(**bus: object) -> ModbusConfig:
    return ModbusConfig.model_validate(
        {
            "name": "lifts",
            "kind": "modbus",
            "request_timeout_ms": 100,
            "devices": [
                {
                    "id": "lift-1",
                    "unit_id": 1,
                    "profile": "gb-monitor-box",
                    "poll_periods_ms": {"fast": 50},
                }
            ],
            **bus,
        }
    )


def test_unusable_port_raises_driver_error() -> None:
    async def main() -> None:
        async with simulated_bus("gb-monitor-box", ["normal"]) as bus:
            port = bus.running.port  # free after the simulator stops
        for cfg in (
            _config(port=port),
            _config(transport="rtu", serial_port="/dev/does-not-exist"),
        ):
            assert isinstance(await driver_error(cfg), DriverError)

    asyncio.run(main())


async def driver_error(cfg: ModbusConfig) -> DriverError | None:
    """Run the driver until it gives up; return the DriverError it raised."""
    driver = ModbusDriver(cfg, DriverContext("gw", Path(tempfile.gettempdir())))
    try:
        async with asyncio.timeout(10):
            await driver.run(ListSink())
    except DriverError as exc:
        return exc
    return None


def test_profile_errors_raise_driver_error() -> None:
    cfg = ModbusConfig.model_validate(
        {
            "name": "l",
            "kind": "modbus",
            "devices": [{"id": "a", "unit_id": 1, "profile": "no-such-profile"}],
        }
    )

    async def main() -> None:
        err = await driver_error(cfg)
        assert isinstance(err, DriverError) and "no shipped profile" in str(err)

    asyncio.run(main())


def test_random_bytes_from_a_tcp_peer_are_counted_not_fatal() -> None:
    """A 'device' answering every request with noise: errors counted, health event."""
    rng = random.Random(3)

    async def noise(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.read(260):
                n = rng.choice((0, 3, 9, 12, 40))
                if rng.random() < 0.5 and n >= 7:
                    # Plausible MBAP header with a lying length, then junk.
                    head = bytes([0, 1, 0, 0, 0, rng.randrange(256), 1])
                    writer.write(head + os.urandom(n - 7))
                else:
                    writer.write(os.urandom(n))
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(noise, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            async with running_driver(_config(port=port)) as (driver, sink):
                await sink.wait_for("elevator.health", timeout=10)
                await asyncio.sleep(0.5)
            assert driver.scheduler is not None
            errors = driver.scheduler.stats.errors
        assert sum(errors.values()) >= 3
        assert sink.of_type("elevator.health")[0].data["state"] == "offline"
        assert not sink.of_type("elevator.alarm") and not sink.of_type("elevator.fault")

    asyncio.run(main())


def test_overdue_polls_are_skipped_and_counted_not_queued() -> None:
    slow = Scenario("slow", "always 120 ms late", lead_s=0.0,
                    steps=(Step(3600, link="slow", freeze=False, reply_delay_ms=120),))  # fmt: skip

    async def main() -> None:
        async with simulated_bus("gb-monitor-box", [slow], speed=1.0) as bus:
            entry = device_entry(1, "gb-monitor-box", 1.0, poll_periods_ms={"fast": 50})
            config = bus.bus_config([entry], request_timeout_ms=1000)
            async with running_driver(config) as (driver, _):
                await asyncio.sleep(1.5)
            assert driver.scheduler is not None
            stats = driver.scheduler.stats
            served = sum(bus.devices[0].requests.values())
        # 1.5 s of 120 ms replies: at most ~13 polls ran; the rest were skipped, not queued.
        assert stats.skipped >= 10
        assert served <= 1.5 / 0.12 + 2
        assert not stats.errors

    asyncio.run(main())


BITS_PROFILE = """
name: bits-box
provenance: INVENTED for a test
limits: {max_bits_per_read: 16, max_gap_bits: 2}
points:
  - {key: alarm_button, table: coil, address: 0, type: bool}
  - {key: door_zone, table: discrete_input, address: 5, type: bool}
  - {key: passenger, table: discrete_input, address: 30, type: bool}
  - {key: floor, table: input, address: 7, type: i16}
"""


def test_coils_discrete_and_input_tables(tmp_path: Path) -> None:
    profile = tmp_path / "bits-box.yaml"
    profile.write_text(BITS_PROFILE)

    async def main() -> None:
        async with simulated_bus(str(profile), ["normal"], speed=5.0) as bus:
            entry = device_entry(1, str(profile), 5.0)
            async with running_driver(bus.bus_config([entry])) as (_, sink):
                await sink.wait_for("elevator.status", count=3, timeout=10)
            counts = bus.devices[0].requests
        status = sink.of_type("elevator.status")[-1].data
        assert status["alarm_button"] is False and isinstance(status["door_zone"], bool)
        assert isinstance(status["floor"], int)
        assert counts["discrete_input"] == 2 * counts["coil"]  # gap 25 > 2: two requests

    asyncio.run(main())


def test_a_cancel_swallowed_by_wait_for_still_stops_the_loop() -> None:
    """Python 3.11's wait_for can swallow a cancel; the scheduler re-raises it."""
    from drivers.modbus.scheduler import _honour_swallowed_cancel

    async def victim() -> None:
        # Swallow the cancel, as wait_for does when the reply lands in the same iteration.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(10)
        _honour_swallowed_cancel()

    async def main() -> None:
        task = asyncio.create_task(victim())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
