"""Turn dwell decisions and camera health into :class:`~agent.events.Event` objects (pure).

Event types (category ``parking`` / ``camera`` picks the MQTT topic):

- ``parking.violation.started``: after the grace period; carries the evidence JPEGs as
  attachments and lists each one's sha256 in ``data.evidence``. Its event id *is* the
  violation id, so re-sending it after a crash is idempotent for the platform.
- ``parking.violation.reminder``: optional, while the bike stays.
- ``parking.violation.cleared``: the bike left (or the zone's schedule ended).
- ``camera.offline`` (alarm priority) and ``camera.online`` (the recovery).

Subjects are ``<camera>/<zone>`` or ``<camera>``: device ids, never names of people.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from agent.events import Attachment, Event, Priority, Severity
from vision.config import ZoneConfig
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
    data: dict[str, Any] = {"camera": camera, **decision.facts, "reason": decision.reason}
    attachments = tuple(Attachment(jpeg) for _role, _view, jpeg in evidence)
    if decision.kind is DecisionKind.VIOLATION_STARTED:
        data["evidence"] = [
            {"n": n, "role": role, "view": view, "sha256": a.sha256, "bytes": len(a.data)}
            for n, ((role, view, _), a) in enumerate(zip(evidence, attachments, strict=True), 1)
        ]
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
        data={"camera": camera, "no_frames_for_s": round(silent_s, 1), "detail": detail},
        priority=Priority.ALARM,
        severity=Severity.WARNING,
        time=wall,
    )


def camera_online_event(camera: str, offline_s: float, wall: datetime) -> Event:
    return Event(
        type=CAMERA_ONLINE,
        subject=camera,
        data={"camera": camera, "was_offline_s": round(offline_s, 1)},
        priority=Priority.EVENT,
        severity=Severity.INFO,
        time=wall,
    )
