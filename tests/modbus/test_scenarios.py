"""Every simulator scenario yields exactly its expected events, over TCP and RTU (pty).

All scenarios run at once, one unit id each on one bus, so the whole matrix costs a few
seconds per transport; each device's events are checked on their own.
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from drivers.modbus.simulator.scenarios import SCENARIOS, Scenario
from drivers.modbus.taxonomy import KINDS
from tests.modbus.harness import device_entry, lifecycle, running_driver, simulated_bus, wait_until

SPEED = 30.0
NAMES = list(SCENARIOS)
# 60 simulated seconds (2 s) of traffic before the scripts: on a loaded machine the
# driver must be polling all units on the bus before any script starts.
LEAD_S = 60.0


def _scenarios(names: list[str]) -> list[Scenario]:
    return [dataclasses.replace(SCENARIOS[n], lead_s=LEAD_S) for n in names]


def _finished(bus) -> bool:  # type: ignore[no-untyped-def]
    return all(d.model.finished for d in bus.devices)


async def _run_all(rtu: bool, profile: str = "gb-monitor-box") -> None:
    async with simulated_bus(profile, _scenarios(NAMES), rtu=rtu, speed=SPEED) as bus:
        entries = [device_entry(i + 1, profile, SPEED) for i in range(len(NAMES))]
        async with running_driver(bus.bus_config(entries)) as (driver, sink):
            await wait_until(lambda: _finished(bus), timeout=40)
            await asyncio.sleep(0.6)  # let the last clears arrive, and any stray event
        stats = driver.scheduler.stats if driver.scheduler else None
    for unit, name in enumerate(NAMES, start=1):
        scenario = SCENARIOS[name]
        got = lifecycle(sink, f"lift-{unit}")
        assert got == list(scenario.expect), f"{name}: {got}"
        for e in sink.events:
            if e.subject == f"lift-{unit}" and e.data.get("state") == "raised":
                kind = KINDS[e.data["key"]]
                assert e.priority is kind.priority
                # Hold respected: raised no earlier than the (compressed) hold time.
                assert e.data["held_s"] >= kind.hold_s / SPEED - 1e-6
    # Entrapments are alarms; a silent device's offline report is an alarm too.
    ent = [e for e in sink.events if e.data.get("key", "").startswith("ENTRAP")]
    assert ent and all(e.priority.label == "alarm" for e in ent)
    modes = sorted((e.data["from"], e.data["to"]) for e in sink.of_type("elevator.mode"))
    assert modes == [
        ("emergency_power", "normal"), ("fire_return", "normal"), ("inspection", "normal"),
        ("normal", "emergency_power"), ("normal", "fire_return"), ("normal", "inspection"),
    ]  # fmt: skip
    # Every clear says why; the passenger released by the door opening is condition_ended.
    cleared = [e for e in sink.events if e.data.get("state") == "cleared"]
    assert cleared and all(e.data.get("reason") for e in cleared)
    assert {e.data["reason"] for e in cleared if e.data["key"] == "ENTRAP_LEVEL"} == {
        "condition_ended"
    }
    assert stats is not None and stats.errors["timeout"] + stats.errors["malformed"] > 0
    assert stats.errors["exception"] > 0


@pytest.mark.parametrize("rtu", [False, True], ids=["tcp", "rtu-pty"])
def test_every_scenario_exact_events(rtu: bool) -> None:
    asyncio.run(_run_all(rtu))


def test_status_telemetry_on_change_and_periodic() -> None:
    async def main() -> None:
        async with simulated_bus("gb-monitor-box", ["normal"], speed=SPEED) as bus:
            entry = device_entry(1, "gb-monitor-box", SPEED, status_interval_s=0.3)
            async with running_driver(bus.bus_config([entry])) as (_, sink):
                await sink.wait_for("elevator.status", count=8, timeout=10)
        status = sink.of_type("elevator.status")
        assert all(e.priority.label == "telemetry" for e in status)
        floors = {e.data["floor"] for e in status}
        assert len(floors) > 1  # the car travels
        assert not lifecycle(sink, "lift-1")  # normal traffic: no faults

    asyncio.run(main())


@pytest.mark.parametrize("profile", ["inovance-nice3000plus", "hpmont-cic"])
def test_controller_codes_are_authoritative(profile: str) -> None:
    """On a real controller profile, the controller's own fault code raises the key."""

    async def main() -> None:
        names = ["overtravel", "door-open-running"]
        async with simulated_bus(profile, names, speed=SPEED) as bus:
            entries = [device_entry(i + 1, profile, SPEED) for i in range(len(names))]
            async with running_driver(bus.bus_config(entries)) as (_, sink):
                await wait_until(lambda: _finished(bus), timeout=30)
                await asyncio.sleep(0.4)
        for unit, name in enumerate(names, start=1):
            events = [
                e
                for e in sink.events
                if e.subject == f"lift-{unit}" and e.type in ("elevator.fault", "elevator.alarm")
            ]
            expect = SCENARIOS[name].expect
            if profile == "hpmont-cic" and name == "overtravel":
                # Hpmont has no overtravel code: the derived rule reports it.
                assert [(e.type, e.data["key"], e.data["state"]) for e in events] == list(expect)
                assert {e.data["source"] for e in events} == {"derived"}
                continue
            assert [(e.type, e.data["key"], e.data["state"]) for e in events] == list(expect)
            assert {e.data["source"] for e in events} == {"controller"}
            assert events[0].data["controller_label"].startswith(("NICE:E", "HPMONT:E"))

    asyncio.run(main())


# The rules as they were before issue 11: each new scenario must trip its naive rule,
# or its silence under the real rules would prove nothing.
NAIVE_RULES = {
    "OVERTRAVEL_TOP": lambda s, e: (
        s.floor is not None and s.floor >= 10 and s.door_zone is False and s.direction == "up"
    ),
    "DOOR_OPEN_RUNNING": lambda s, e: s.running is True and s.door in ("open", "opening"),
    "DOOR_CLOSE_FAIL": lambda s, e: s.door in ("open", "opening", "closing"),
}
NAIVE_OUTCOME = {
    "overtravel-direction-dropped": [
        ("elevator.fault", "STOP_OUT_OF_ZONE", "raised"),
        ("elevator.fault", "STOP_OUT_OF_ZONE", "cleared"),
    ],
    "re-levelling": [  # the re-levelling, then the early opening
        ("elevator.fault", "DOOR_OPEN_RUNNING", "raised"),
        ("elevator.fault", "DOOR_OPEN_RUNNING", "cleared"),
    ]
    * 2,
    "fire-return": [
        ("elevator.fault", "DOOR_CLOSE_FAIL", "raised"),
        ("elevator.fault", "DOOR_CLOSE_FAIL", "cleared"),
    ],
}


def test_new_scenarios_trip_the_rules_as_they_were(monkeypatch: pytest.MonkeyPatch) -> None:
    from drivers.modbus import fault_rules

    for key, rule in NAIVE_RULES.items():
        monkeypatch.setitem(fault_rules.RULES, key, rule)
    names = list(NAIVE_OUTCOME)

    async def main() -> None:
        async with simulated_bus("gb-monitor-box", _scenarios(names), speed=SPEED) as bus:
            entries = [device_entry(i + 1, "gb-monitor-box", SPEED) for i in range(len(names))]
            async with running_driver(bus.bus_config(entries)) as (_, sink):
                await wait_until(lambda: _finished(bus), timeout=40)
                await asyncio.sleep(0.6)
        for unit, name in enumerate(names, start=1):
            assert lifecycle(sink, f"lift-{unit}") == NAIVE_OUTCOME[name], name

    asyncio.run(main())
