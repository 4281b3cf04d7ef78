"""Decisions become events with the right type, subject, priority and evidence refs."""

from __future__ import annotations

import hashlib

from agent.events import Priority, Severity, to_cloudevent
from tests.vision.sim import bike, drive
from vision.config import ZoneConfig
from vision.dwell import DecisionKind, DwellEngine
from vision.violations import camera_offline_event, violation_event

CAR = ZoneConfig(id="car-1", kind="elevator_car", polygon=[(0, 0), (1, 0), (1, 1), (0, 1)])
HALL = ZoneConfig(
    id="hall",
    kind="corridor",
    polygon=[(0, 0), (1, 0), (1, 1), (0, 1)],
    grace_s=5,
    gap_tolerance_s=3,
)


def _lifecycle(zone: ZoneConfig):
    eng = DwellEngine("lift-cam", [zone])
    run = drive(eng, lambda t: [bike()] if t < 20 else [], until=40, interval=0.5)
    (started,) = run.of(DecisionKind.VIOLATION_STARTED)
    (cleared,) = run.of(DecisionKind.CLEARED)
    return started, cleared


def test_elevator_car_violation_is_an_alarm() -> None:
    started, cleared = _lifecycle(CAR)
    jpegs = [("confirmation", "frame", b"\xff\xd8one"), ("confirmation", "crop", b"\xff\xd8two")]
    event = violation_event("lift-cam", CAR, started, jpegs)
    assert event.type == "parking.violation.started"
    assert event.subject == "lift-cam/car-1"
    assert event.priority is Priority.ALARM and event.severity is Severity.CRITICAL
    assert event.id == event.data["violation_id"]
    assert [e["sha256"] for e in event.data["evidence"]] == [
        hashlib.sha256(j).hexdigest() for _r, _v, j in jpegs
    ]
    doc = to_cloudevent(event, seq=1, clock_synced=True)
    assert [a["sha256"] for a in doc["attachments"]] == [
        e["sha256"] for e in event.data["evidence"]
    ]
    end = violation_event("lift-cam", CAR, cleared)
    assert end.type == "parking.violation.cleared"
    assert end.data["violation_id"] == event.id and end.id != event.id
    assert end.severity is Severity.INFO


def test_corridor_violation_is_an_event_without_personal_data() -> None:
    started, _ = _lifecycle(HALL)
    event = violation_event("lift-cam", HALL, started)
    assert event.priority is Priority.EVENT and event.severity is Severity.WARNING
    assert event.attachments == () and event.data["evidence"] == []
    assert set(event.data) >= {"camera", "zone", "zone_kind", "dwell_s", "first_seen", "reason"}
    assert not {"name", "person", "face"} & set(event.data)


def test_camera_offline_is_an_alarm() -> None:
    from datetime import UTC, datetime

    event = camera_offline_event("cam1", 21.0, "no frames", datetime.now(UTC))
    assert event.type == "camera.offline" and event.priority is Priority.ALARM
    assert event.subject == "cam1"
