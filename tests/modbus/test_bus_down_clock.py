"""The bus-down hold against a wall clock stepping by hours (issue 16 item 3).

The real driver dials a port where nothing listens (a TCP monitoring box without power).
Its clocks are injected (drivers/modbus/bus_down.py ``Clocks``): a monotonic clock that
only the driver's own sleeps advance, and a wall clock that steps just after the driver
stamped the outage. Pass: each lift's ``COMM_LOST`` comes exactly one hold (monotonic)
after the bus was found down, for a step back of 6 h and forward of 3 h. Before the fix
the hold was wall time: the step back made the driver sleep 6 h more before the alarm,
the step forward alarmed at once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent.driver import DriverContext, DriverError
from agent.events import Event
from drivers.modbus.bus_down import BusDown, Clocks
from drivers.modbus.comm_state import CommStore
from drivers.modbus.config import ModbusConfig
from drivers.modbus.driver import ModbusDriver
from tests.broker import free_port
from tests.modbus.harness import device_entry
from tests.sinks import ListSink

HOUR = 3600.0


class SteppingClocks:
    """Monotonic time moved only by the driver's sleeps; the wall steps once, on cue."""

    def __init__(self, step_s: float = 0.0) -> None:
        self.mono = 1000.0
        self.offset = 1_800_000_000.0  # wall = mono + offset
        self.step_s = step_s
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.mono

    def wall(self) -> float:
        now = self.mono + self.offset
        self.offset += self.step_s  # steps right after the outage is stamped
        self.step_s = 0.0
        return now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.mono += seconds
        await asyncio.sleep(0)

    def clocks(self) -> Clocks:
        return Clocks(monotonic=self.monotonic, wall=self.wall, sleep=self.sleep)


class StampedSink(ListSink):
    """Keeps the injected monotonic time at which each event arrived."""

    def __init__(self, clocks: SteppingClocks) -> None:
        super().__init__()
        self.at: list[tuple[Event, float]] = []
        self._clocks = clocks

    async def emit(self, event: Event) -> None:
        self.at.append((event, self._clocks.mono))
        await super().emit(event)


def _dead_bus() -> ModbusConfig:
    entries = [device_entry(u, "gb-monitor-box", 1.0, offline_after_polls=20) for u in (1, 2)]
    return ModbusConfig.model_validate(
        {"name": "lifts", "kind": "modbus", "port": free_port(), "request_timeout_ms": 1000,
         "devices": entries}
    )  # fmt: skip


async def _run_until_it_gives_up(driver: ModbusDriver, sink: ListSink) -> None:
    with pytest.raises(DriverError):
        await driver.run(sink)


@pytest.mark.parametrize("step_h", [-6.0, 3.0], ids=["back-6h", "forward-3h"])
def test_comm_lost_comes_one_hold_after_the_bus_went_down_whatever_the_wall_clock(
    tmp_path: Path, step_h: float
) -> None:
    async def main() -> None:
        fake = SteppingClocks(step_h * HOUR)
        context = DriverContext("gw-test", tmp_path)
        sink = StampedSink(fake)
        driver = ModbusDriver(_dead_bus(), context, fake.clocks())
        await _run_until_it_gives_up(driver, sink)
        hold = 20 * 1.0  # offline_after_polls x max(poll period, request timeout)
        assert driver._holds == {"lift-1": hold, "lift-2": hold}
        lost = [(e.subject, at) for e, at in sink.at if e.type == "elevator.health"]
        assert lost == [("lift-1", 1000.0 + hold), ("lift-2", 1000.0 + hold)]
        assert all(e.data["key"] == "COMM_LOST" for e, _ in sink.at)
        assert fake.slept == [hold]
        # The stamp on disk is the wall time the outage began, before the step.
        assert CommStore(tmp_path, "lifts").load().bus_down_since == 1000.0 + 1_800_000_000.0
        # The supervisor's next driver (same process) alarms no lift again, waits no more.
        again = ModbusDriver(_dead_bus(), context, fake.clocks())
        await _run_until_it_gives_up(again, sink)
        assert len(sink.at) == 2 and fake.slept == [hold]

    asyncio.run(main())


def test_a_restart_takes_the_saved_stamp_clamped_to_one_hold() -> None:
    """No monotonic reference survives an agent restart: the saved wall stamp's age."""
    fake = SteppingClocks()
    wall_now = fake.mono + fake.offset
    # Saved 5 s ago: 5 s of the hold are gone.
    down = BusDown(fake.clocks())
    assert down.resume(wall_now - 5, longest_hold_s=20) == wall_now - 5
    assert down.elapsed() == 5
    # Saved "in the future" (the clock was set back 6 h while the agent was stopped):
    # the hold starts again now, and the stamp on disk becomes now.
    down = BusDown(fake.clocks())
    assert down.resume(wall_now + 6 * HOUR, longest_hold_s=20) == wall_now
    assert down.elapsed() == 0
    # Saved 3 h ago (or the clock stepped forward): due at once, never more than one hold.
    down = BusDown(fake.clocks())
    down.resume(wall_now - 3 * HOUR, longest_hold_s=20)
    assert down.elapsed() == 20
