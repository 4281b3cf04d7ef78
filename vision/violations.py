"""Turn dwell decisions and camera health into :class:`~agent.events.Event` objects (pure).

Event types (category ``parking`` / ``camera`` picks the MQTT topic):

- ``parking.violation.started``: after the grace period; carries the evidence JPEGs as
  attachments and lists each one's sha256 in ``data.evidence``. Its event id *is* the
  violation id, so re-sending it after a crash is idempotent for the platform.
- ``parking.violation.reminder``: optional, while the bike stays.
- ``parking.violation.cleared``: the bike left (or the zone's schedule ended).
- ``camera.offline`` (alarm priority) and ``camera.online`` (the recovery).

Subjects are ``<camera>/<zone>`` or ``<camera>``: device ids, never names of people.
The ``data`` of each is built from the models below, which the platform contract
(agent/event_types.py, docs/contract/) is generated from.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from agent.events import Attachment, Event, EventData, Priority, Severity
from vision.config import ZoneConfig, ZoneKind
from vision.dwell import Decision, DecisionKind

STARTED = "parking.violation.started"
REMINDER = "parking.violation.reminder"
CLEARED = "parking.violation.cleared"
CAMERA_OFFLINE = "camera.offline"
CAMERA_ONLINE = "camera.online"

_TYPES = {
    DecisionKind.VIOLATION_STARTED: STARTED,
    DecisionKind.REMINDER: REMINDER,
    DecisionKind.CLEARED: CLEARED,
}


class Evidence(EventData):
    """One evidence JPEG, published as attachment ``n`` of the started event."""

    n: int = Field(ge=1)
    role: Literal["first_sighting", "confirmation"]
    view: Literal["frame", "crop"]
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int = Field(ge=0)


class ParkingViolation(EventData):
    """The facts of a dwell decision (vision.dwell_types.facts) and why it was made."""

    camera: str
    candidate: str
    zone: str
    zone_kind: ZoneKind
    violation_id: str | None = Field(description="The started event's id; null before it.")
    violation_started: str | None = Field(description="RFC 3339; null before the violation.")
    first_seen: str = Field(description="RFC 3339.")
    last_seen: str = Field(description="RFC 3339.")
    dwell_s: float
    attended_s: float
    grace_s: float
    gap_tolerance_s: float
    box: list[float] = Field(description="Anchor box [x1, y1, x2, y2], normalised 0..1.")
    score: float
    model_labels: dict[str, int] = Field(description="Detector labels seen, with counts.")
    attended: bool
    elevator: str | None = Field(default=None, description="elevator_car zones: the lift.")
    reason: str = Field(description="Why the decision was made, in words.")
    evidence: list[Evidence] | None = Field(default=None, description="started only.")


class CameraOffline(EventData):
    """No frame for ``offline_after_s``."""

    camera: str
    no_frames_for_s: float
    detail: str


class CameraOnline(EventData):
    """Frames again after an outage."""

    camera: str
    was_offline_s: float


def is_event_decision(decision: Decision) -> bool:
    return decision.kind in _TYPES


def violation_event(
    camera: str,
    zone: ZoneConfig,
    decision: Decision,
    evidence: Sequence[tuple[str, str, bytes]] = (),
) -> Event:
    """Event for a started/reminder/cleared decision.

    ``evidence`` is ``(role, view, jpeg)``: role ``first_sighting`` or ``confirmation``,
    view ``frame`` or ``crop``; attachment n (1-based) is ``evidence[n-1]``.
    """
    etype = _TYPES[decision.kind]
    facts = ParkingViolation.model_validate(
        {"camera": camera, **decision.facts, "reason": decision.reason}
    )
    attachments = tuple(Attachment(jpeg) for _role, _view, jpeg in evidence)
    if decision.kind is DecisionKind.VIOLATION_STARTED:
        facts.evidence = [
            Evidence.model_validate(
                {"n": n, "role": role, "view": view, "sha256": a.sha256, "bytes": len(a.data)}
            )
            for n, ((role, view, _), a) in enumerate(zip(evidence, attachments, strict=True), 1)
        ]
    data = facts.to_data()
    alarm = zone.is_alarm and decision.kind is not DecisionKind.CLEARED
    kwargs: dict[str, Any] = {}
    if decision.kind is DecisionKind.VIOLATION_STARTED and decision.facts.get("violation_id"):
        kwargs["id"] = decision.facts["violation_id"]
    return Event(
        type=etype,
        subject=f"{camera}/{zone.id}",
        data=data,
        priority=Priority.ALARM if alarm else Priority.EVENT,
        severity=(
            Severity.INFO
            if decision.kind is DecisionKind.CLEARED
            else Severity.CRITICAL
            if zone.is_alarm
            else Severity.WARNING
        ),
        time=decision.wall,
        attachments=attachments,
        **kwargs,
    )


def camera_offline_event(camera: str, silent_s: float, detail: str, wall: datetime) -> Event:
    return Event(
        type=CAMERA_OFFLINE,
        subject=camera,
        data=CameraOffline(
            camera=camera, no_frames_for_s=round(silent_s, 1), detail=detail
        ).to_data(),
        priority=Priority.ALARM,
        severity=Severity.WARNING,
        time=wall,
    )


def camera_online_event(camera: str, offline_s: float, wall: datetime) -> Event:
    return Event(
        type=CAMERA_ONLINE,
        subject=camera,
        data=CameraOnline(camera=camera, was_offline_s=round(offline_s, 1)).to_data(),
        priority=Priority.EVENT,
        severity=Severity.INFO,
        time=wall,
    )
