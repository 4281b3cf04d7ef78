"""Rule findings of issue 11, each a scenario in words fed to the fault engine.

Every case is a sequence of (time, snapshot) readings and the (key, raised) transitions
a lift engineer expects; ids name the scenario.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from drivers.modbus.elevator_state import SERVICE_MODES, ElevatorSnapshot
from drivers.modbus.fault_rules import FaultEngine, RuleSettings
from drivers.modbus.taxonomy import KINDS


def replace(snap: ElevatorSnapshot, **changes: object) -> ElevatorSnapshot:
    """A copy of ``snap`` with ``changes`` (the snapshot is a frozen pydantic model)."""
    return snap.model_copy(update=changes)

AT_FLOOR = ElevatorSnapshot(
    service_mode="normal", running=False, direction="none", floor=3, door_zone=True,
    door="closed", passenger=False, speed_mps=0.0, power_on_mains=True,
    safety_circuit_ok=True, door_lock_circuit_ok=True, alarm_button=False,
    controller_fault=0, top_floor=10, bottom_floor=1,
)  # fmt: skip


def trapped_at_floor(mode: str, *, mains: bool = True) -> list[tuple[float, ElevatorSnapshot]]:
    s = replace(AT_FLOOR, service_mode=mode, passenger=True, power_on_mains=mains)
    return [(float(t), s) for t in range(0, 61)]


def above_top(direction_after_stop: str) -> list[tuple[float, ElevatorSnapshot]]:
    # Passes the top landing's door zone going up, then stops beyond it.
    level = replace(AT_FLOOR, floor=10, running=True, direction="up", speed_mps=0.3)
    beyond = replace(level, door_zone=False)
    stopped = replace(beyond, running=False, direction=direction_after_stop, speed_mps=0.0)
    return [(0.0, level), (1.0, beyond)] + [(float(t), stopped) for t in range(2, 63)]


def stuck_below_bottom_floor_zone() -> list[tuple[float, ElevatorSnapshot]]:
    # Coming down from floor 2, stops short of floor 1's zone; the indicator reads 1.
    moving = replace(AT_FLOOR, floor=1, door_zone=False, running=True, direction="down",
                     speed_mps=0.5)  # fmt: skip
    stopped = replace(moving, running=False, direction="none", speed_mps=0.0)
    return [(0.0, moving)] + [(float(t), stopped) for t in range(1, 62)]


def fire_return_parked_open() -> list[tuple[float, ElevatorSnapshot]]:
    s = replace(AT_FLOOR, service_mode="fire_return", floor=1, door="open")
    return [(float(t), s) for t in range(0, 200)]


def door_opens_moving(zone: bool, speed: float) -> list[tuple[float, ElevatorSnapshot]]:
    s = replace(AT_FLOOR, running=True, door="opening", door_zone=zone, speed_mps=speed)
    return [(float(t), s) for t in range(0, 10)]


def keys(engine: FaultEngine, snaps: list[tuple[float, ElevatorSnapshot]]) -> list[tuple]:
    return [(tr.key, tr.raised) for t, s in snaps for tr in engine.update(s, t)]


CASES = {
    "passenger trapped at a floor in normal service, 60 s -> ENTRAP_LEVEL": (
        trapped_at_floor("normal"),
        [("ENTRAP_LEVEL", True)],
    ),
    "mains failure, car on emergency power, passenger trapped at a floor -> ENTRAP_LEVEL": (
        trapped_at_floor("emergency_power", mains=False),
        [("POWER_LOSS", True), ("ENTRAP_LEVEL", True)],
    ),
    "car out of service (stopped), passenger trapped at a floor -> ENTRAP_LEVEL": (
        trapped_at_floor("stopped"),
        [("ENTRAP_LEVEL", True)],
    ),
    "controller in fault mode, passenger trapped at a floor -> ENTRAP_LEVEL": (
        trapped_at_floor("fault"),
        [("ENTRAP_LEVEL", True)],
    ),
    "fire service phase 2, passenger signal, doors closed at a floor -> ENTRAP_LEVEL": (
        trapped_at_floor("firefighter"),
        [("ENTRAP_LEVEL", True)],
    ),
    "inspection with a person in the car at a floor -> nothing (technician)": (
        trapped_at_floor("inspection"),
        [],
    ),
    "car above top landing, direction dropped, stopped 60 s -> overtravel top, critical": (
        above_top("none"),
        [("OVERTRAVEL_TOP", True)],
    ),
    "car above top landing, direction still up, stopped 60 s -> overtravel top": (
        above_top("up"),
        [("OVERTRAVEL_TOP", True)],
    ),
    "car stopped short of the bottom landing zone coming down -> stop out of zone only": (
        stuck_below_bottom_floor_zone(),
        [("STOP_OUT_OF_ZONE", True)],
    ),
    "car parked in fire return with doors open -> no DOOR_CLOSE_FAIL": (
        fire_return_parked_open(),
        [],
    ),
    "re-levelling in the door zone at 0.05 m/s with the door opening -> no DOOR_OPEN_RUNNING": (
        door_opens_moving(True, 0.05),
        [],
    ),
    "early door opening in the door zone at 0.6 m/s -> no DOOR_OPEN_RUNNING": (
        door_opens_moving(True, 0.6),
        [],
    ),
    "door opens in the door zone at 1.0 m/s -> DOOR_OPEN_RUNNING": (
        door_opens_moving(True, 1.0),
        [("DOOR_OPEN_RUNNING", True)],
    ),
    "door opens between floors while running slowly -> DOOR_OPEN_RUNNING": (
        door_opens_moving(False, 0.05),
        [("DOOR_OPEN_RUNNING", True)],
    ),
}


@pytest.mark.parametrize(("snaps", "expected"), CASES.values(), ids=CASES.keys())
def test_rule_scenario(snaps: list[tuple[float, ElevatorSnapshot]], expected: list[tuple]) -> None:
    engine = FaultEngine(RuleSettings(passenger_hold_s=0.0), {})
    assert keys(engine, snaps) == expected


def test_overtravel_top_is_critical() -> None:
    assert KINDS["OVERTRAVEL_TOP"].severity.name == "CRITICAL"


PROFILES = Path(__file__).parents[2] / "drivers" / "modbus" / "profiles"
MODE_MAPS = {
    "NICE mode 5 (故障) -> fault": ("inovance-nice3000plus.yaml", 5, "fault"),
    "NICE mode 0 (检修) -> inspection": ("inovance-nice3000plus.yaml", 0, "inspection"),
    "NICE mode 7 (自动) -> normal": ("inovance-nice3000plus.yaml", 7, "normal"),
    "Hpmont mode 2 (应急运行) -> emergency_power": ("hpmont-cic.yaml", 2, "emergency_power"),
    "Hpmont mode 1 (检修) -> inspection": ("hpmont-cic.yaml", 1, "inspection"),
    "GB box mode 5 -> emergency_power": ("gb-monitor-box.yaml", 5, "emergency_power"),
}


@pytest.mark.parametrize(("profile", "raw", "mode"), MODE_MAPS.values(), ids=MODE_MAPS.keys())
def test_profile_mode_map(profile: str, raw: int, mode: str) -> None:
    doc = yaml.safe_load((PROFILES / profile).read_text(encoding="utf-8"))
    point = next(p for p in doc["points"] if p["key"] == "service_mode")
    assert point["enum"][raw] == mode
    assert mode in SERVICE_MODES


CODES = {
    "DOOR_OPEN_RUNNING has no GB code (08 is Jinhua's only)": ("DOOR_OPEN_RUNNING", None),
    "NO_RESTART keeps GB code 8 (S6, S7, S8)": ("NO_RESTART", 8),
}


@pytest.mark.parametrize(("key", "code"), CODES.values(), ids=CODES.keys())
def test_gb_codes(key: str, code: int | None) -> None:
    assert KINDS[key].gb_code == code


def test_no_two_keys_share_a_gb_code_except_the_entrapments() -> None:
    seen: dict[int, list[str]] = {}
    for kind in KINDS.values():
        if kind.gb_code is not None:
            seen.setdefault(kind.gb_code, []).append(kind.key)
    shared = {code: ks for code, ks in seen.items() if len(ks) > 1}
    assert shared == {11: ["ENTRAP_LEVEL", "ENTRAP_NONLEVEL"]}


def _reasons(engine: FaultEngine, snaps: list[tuple[float, ElevatorSnapshot]]) -> list[tuple]:
    return [(tr.key, tr.reason) for t, s in snaps for tr in engine.update(s, t) if not tr.raised]


TRAPPED = replace(AT_FLOOR, passenger=True)
REASONS = {
    "passenger released: door opens at the floor -> cleared, condition_ended": (
        {},
        False,
        [(0.0, TRAPPED), (50.0, TRAPPED), (51.0, replace(TRAPPED, door="open"))],
        [("ENTRAP_LEVEL", "condition_ended")],
    ),
    "technician switches to inspection during an entrapment -> cleared, inspection_started": (
        {},
        False,
        [(0.0, TRAPPED), (50.0, TRAPPED), (51.0, replace(TRAPPED, service_mode="inspection"))],
        [("ENTRAP_LEVEL", "inspection_started")],
    ),
    "episode saved before a restart, condition gone on the first reading -> restart_reconciled": (
        {},
        True,
        [(0.0, AT_FLOOR)],
        [("ENTRAP_LEVEL", "restart_reconciled")],
    ),
    "controller fault code back to 0 -> cleared, controller_reset": (
        {41: "SAFETY_CIRCUIT"},
        False,
        [(0.0, replace(AT_FLOOR, controller_fault=41)), (1.0, AT_FLOOR)],
        [("SAFETY_CIRCUIT", "controller_reset")],
    ),
    "controller fault code replaced by another -> cleared, controller_code_changed": (
        {41: "SAFETY_CIRCUIT"},
        False,
        [
            (0.0, replace(AT_FLOOR, controller_fault=41)),
            (1.0, replace(AT_FLOOR, controller_fault=22)),
        ],
        [("SAFETY_CIRCUIT", "controller_code_changed")],
    ),
}


@pytest.mark.parametrize(("codes", "restored", "snaps", "expected"), REASONS.values(),
                         ids=REASONS.keys())  # fmt: skip
def test_clear_reason(
    codes: dict[int, str],
    restored: bool,
    snaps: list[tuple[float, ElevatorSnapshot]],
    expected: list[tuple],
) -> None:
    engine = FaultEngine(RuleSettings(passenger_hold_s=0.0), codes)
    if restored:
        engine.restore("ENTRAP_LEVEL", "derived", None)
    assert _reasons(engine, snaps) == expected
