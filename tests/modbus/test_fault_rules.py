"""The fault engine on hand-made snapshots: holds, episodes, suppression, authority."""

from __future__ import annotations

from drivers.modbus.elevator_state import ElevatorSnapshot, build_snapshot
from drivers.modbus.fault_rules import FaultEngine, RuleSettings


def replace(snap: ElevatorSnapshot, **changes: object) -> ElevatorSnapshot:
    """A copy of ``snap`` with ``changes`` (the snapshot is a frozen pydantic model)."""
    return snap.model_copy(update=changes)

NORMAL = ElevatorSnapshot(
    service_mode="normal",
    running=False,
    direction="none",
    floor=3,
    door_zone=True,
    door="closed",
    passenger=False,
    power_on_mains=True,
    safety_circuit_ok=True,
    door_lock_circuit_ok=True,
    alarm_button=False,
    controller_fault=0,
)
TRAPPED = replace(NORMAL, passenger=True)


def run(engine: FaultEngine, snaps: list[tuple[float, ElevatorSnapshot]]) -> list[tuple]:
    out = []
    for t, s in snaps:
        out += [(t, tr.key, tr.raised, tr.source) for tr in engine.update(s, t)]
    return out


def test_entrapment_waits_for_hold_and_debounce_then_clears_once() -> None:
    e = FaultEngine(RuleSettings(passenger_hold_s=10), {})
    snaps = [(0.0, NORMAL)] + [(float(t), TRAPPED) for t in range(1, 60)]
    got = run(e, [*snaps, (60.0, replace(TRAPPED, door="open"))])
    # Person seen at t=1, debounced 10 s, then held 45 s: raised at 56, cleared at 60.
    assert got == [
        (56.0, "ENTRAP_LEVEL", True, "derived"),
        (60.0, "ENTRAP_LEVEL", False, "derived"),
    ]


def test_flickering_passenger_does_not_duplicate_episode() -> None:
    e = FaultEngine(RuleSettings(passenger_hold_s=10), {})
    snaps = [(float(t), replace(TRAPPED, passenger=t % 7 != 0)) for t in range(1, 120)]
    got = run(e, snaps)
    assert [g[1:3] for g in got] == [("ENTRAP_LEVEL", True)]


def test_inspection_suppresses_faults_but_not_for_ever() -> None:
    e = FaultEngine(RuleSettings(), {})
    insp = replace(NORMAL, service_mode="inspection", door_zone=False, power_on_mains=False)
    assert run(e, [(float(t), insp) for t in range(0, 200)]) == []
    back = replace(insp, service_mode="normal")
    assert [g[1:3] for g in run(e, [(200.0, back)])] == [("POWER_LOSS", True)]


def test_controller_code_is_authoritative_and_changes_are_episodes() -> None:
    e = FaultEngine(RuleSettings(), {41: "SAFETY_CIRCUIT"})
    broken = replace(NORMAL, safety_circuit_ok=False)  # derived rule must stay quiet
    got = run(
        e,
        [
            (0.0, broken),
            (1.0, replace(broken, controller_fault=41)),
            (2.0, replace(NORMAL, controller_fault=22)),
            (3.0, NORMAL),
        ],
    )
    assert got == [
        (1.0, "SAFETY_CIRCUIT", True, "controller"),
        (2.0, "SAFETY_CIRCUIT", False, "controller"),
        (2.0, "CTRL_FAULT", True, "controller"),
        (3.0, "CTRL_FAULT", False, "controller"),
    ]


def test_hold_timers_restart_after_a_data_gap() -> None:
    e = FaultEngine(RuleSettings(), {})
    open_door = replace(NORMAL, door="open")
    assert run(e, [(0.0, open_door)]) == []
    e.forget_pending()
    assert run(e, [(100.0, open_door)]) == []  # not "held" across the gap
    assert [g[1:3] for g in run(e, [(180.0, open_door)])] == [("DOOR_CLOSE_FAIL", True)]


def test_snapshot_building_tolerates_odd_values() -> None:
    s = build_snapshot(
        {
            "door": "sideways",
            "direction": 1,
            "floor": "7",
            "speed_mps": 0.5,
            "door_closed": True,
            "service_mode": None,
        }
    )
    assert (s.door, s.direction, s.floor, s.running) == ("closed", "up", 7, True)
