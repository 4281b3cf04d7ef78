"""What the console remembers of the event stream: the last events, cars, devices, violations.

:class:`EventTap` sits in front of the outbox sink (only when ``console:`` is configured):
every event is first made durable by the inner sink, then folded here in O(1) - a deque
append and a few dict updates, no timers and no I/O - so a console nobody looks at costs
next to nothing. Browsers are woken (server-sent events) only when one is connected.

Kept, all bounded:

* the last 50 events as summaries (type, subject, priority, severity, time; no data, so no
  vital-sign values ever reach a page);
* per elevator (subject = device id): the latest ``elevator.status`` snapshot, online or
  offline from ``elevator.health``, and the open fault/alarm episodes with their start;
* per resident device: last seen, battery and wear state only (``resident.*`` events);
* open parking violations with their evidence JPEGs, until ``parking.violation.cleared``.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agent.driver import EventSink
from agent.events import Event

RECENT = 50
_MAX_VIOLATIONS = 32
_MAX_DEVICES = 512


@dataclass
class Car:
    device: str
    online: bool | None = None
    status: dict[str, Any] = field(default_factory=dict)
    status_at: datetime | None = None
    faults: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> summary


@dataclass
class Resident:
    device: str
    last_seen: datetime
    battery: float | None = None
    worn: bool | None = None


@dataclass
class OpenViolation:
    id: str
    camera: str
    zone: str
    started: datetime
    evidence: list[dict[str, Any]]
    images: list[bytes]


def summary(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "time": event.time.isoformat(),
        "type": event.type,
        "subject": event.subject,
        "priority": event.priority.label,
        "severity": str(event.severity),
        "source": event.source.rsplit("/", 1)[-1],
    }


class EventTap:
    """An :class:`~agent.driver.EventSink` that passes events on and keeps what pages show."""

    def __init__(self, inner: EventSink) -> None:
        self._inner = inner
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT)
        self.cars: dict[str, Car] = {}
        self.residents: OrderedDict[str, Resident] = OrderedDict()
        self.violations: OrderedDict[str, OpenViolation] = OrderedDict()
        self.version = 0
        self._listeners: set[asyncio.Event] = set()

    async def emit(self, event: Event) -> None:
        await self._inner.emit(event)
        self.fold(event)

    def fold(self, event: Event) -> None:
        self.recent.append(summary(event))
        category = event.type.partition(".")[0]
        if category == "elevator":
            self._car(event)
        elif category == "resident":
            self._resident(event)
        elif event.type.startswith("parking.violation."):
            self._violation(event)
        self.version += 1
        for listener in self._listeners:
            listener.set()

    # -- live listeners (server-sent events) ---------------------------------------------

    def listen(self) -> asyncio.Event:
        flag = asyncio.Event()
        self._listeners.add(flag)
        return flag

    def unlisten(self, flag: asyncio.Event) -> None:
        self._listeners.discard(flag)

    @property
    def listeners(self) -> int:
        return len(self._listeners)

    # -- folding -------------------------------------------------------------------------

    def _car(self, event: Event) -> None:
        car = self.cars.get(event.subject)
        if car is None:
            if len(self.cars) >= _MAX_DEVICES:
                return
            car = self.cars[event.subject] = Car(event.subject)
        data = event.data
        kind = event.type.removeprefix("elevator.")
        if kind == "status":
            car.status = {k: v for k, v in data.items() if k != "active"}
            car.status_at = event.time
            car.online = True
        elif kind == "health":
            car.online = data.get("state") == "online"
        elif kind in ("alarm", "fault", "event") and "key" in data:
            if isinstance(data.get("snapshot"), dict):
                car.status, car.status_at = dict(data["snapshot"]), event.time
            if data.get("state") == "raised":
                car.faults[str(data["key"])] = {
                    "key": data["key"],
                    "category": kind,
                    "label_zh": data.get("label_zh", ""),
                    "severity": str(event.severity),
                    "since": event.time.isoformat(),
                }
            else:
                car.faults.pop(str(data["key"]), None)

    def _resident(self, event: Event) -> None:
        r = self.residents.pop(event.subject, None) or Resident(event.subject, event.time)
        r.last_seen = event.time
        battery, wear = event.data.get("battery"), event.data.get("wear")
        if isinstance(battery, dict) and isinstance(battery.get("mean"), int | float):
            r.battery = float(battery["mean"])
        elif isinstance(battery, int | float):
            r.battery = float(battery)
        if isinstance(wear, dict) and isinstance(wear.get("mean"), int | float):
            r.worn = wear["mean"] >= 0.5
        elif isinstance(wear, bool):
            r.worn = wear
        if event.data.get("key") == "OFF_WRIST":
            r.worn = event.data.get("state") != "raised"
        self.residents[event.subject] = r
        while len(self.residents) > _MAX_DEVICES:
            self.residents.popitem(last=False)

    def _violation(self, event: Event) -> None:
        vid = str(event.data.get("violation_id") or event.id)
        if event.type.endswith(".cleared"):
            self.violations.pop(vid, None)
            return
        if not event.type.endswith(".started"):
            return
        camera, _, zone = event.subject.partition("/")
        self.violations[vid] = OpenViolation(
            vid,
            camera,
            zone,
            event.time,
            list(event.data.get("evidence", [])),
            [a.data for a in event.attachments],
        )
        while len(self.violations) > _MAX_VIOLATIONS:
            self.violations.popitem(last=False)
