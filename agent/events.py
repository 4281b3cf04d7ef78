"""The typed event envelope every producer emits and the platform receives.

Events are serialised as CloudEvents 1.0 structured JSON (see docs/events.md) with the
extension attributes ``seq``, ``priority``, ``severity`` and ``clocksync``. The document's
shape is the :class:`CloudEvent` TypedDict, which :func:`to_cloudevent` is checked against
(mypy) and the envelope JSON Schema is generated from (agent/contract/); producers build
``data`` from an :class:`EventData` model. This module has no I/O and imports only the
standard library, orjson, pydantic and the event type table, so every layer may depend on it.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal, NotRequired

import orjson
from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict  # pydantic needs this one on Python 3.11

from agent.event_types import dataschema

SPEC_VERSION: Final = "1.0"
JSON_CONTENT_TYPE: Final = "application/json"


class Priority(enum.IntEnum):
    """Delivery class. Higher is more urgent: alarms are sent first and never shed."""

    TELEMETRY = 0
    EVENT = 1
    ALARM = 2

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str | int | Priority) -> Priority:
        if isinstance(value, Priority):
            return value
        if isinstance(value, int):
            return cls(value)
        try:
            return cls[value.upper()]
        except KeyError:
            raise ValueError(f"unknown priority {value!r}; use alarm, event or telemetry") from None


class Severity(enum.StrEnum):
    """How bad the situation is, independent of how urgently the event must travel."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


def uuid7() -> str:
    """Return a UUIDv7 string (RFC 9562): 48-bit Unix ms timestamp, then random bits.

    Time-ordered ids keep the platform's index and our outbox append-friendly.
    """
    unix_ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(secrets.token_bytes(10), "big")
    value = (unix_ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # variant
    value |= rand & ((1 << 62) - 1)  # rand_b, 62 bits
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


EVENT_TYPE_PATTERN = r"[a-z][a-z0-9_]{0,31}(\.[a-z0-9][a-z0-9_-]{0,63}){1,4}"
_EVENT_TYPE = re.compile(EVENT_TYPE_PATTERN)


class EventData(BaseModel):
    """Base of every event's ``data`` model (registered in agent/event_types.py).

    Unknown fields are refused, so a producer cannot send what the contract does not name.
    Optional fields default to None and are left out of the event unless the producer
    sets them (:meth:`to_data`), as the hand-built dicts did before the contract existed.
    """

    # Built on first use (defer_build), not at import: a model's validator and serializer
    # take ~40 kB each, of the ~50 registered types a gateway emits a handful, and few
    # before its first publish (issue 19 items 1 and 2: steady RSS, start-up).
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    def to_data(self) -> dict[str, Any]:
        """The JSON-ready ``data`` of an event: fields the producer set, by their aliases."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


@dataclass(frozen=True, slots=True)
class Attachment:
    """A binary blob (e.g. an evidence JPEG) sent on its own topic beside its event.

    It travels through the same outbox as the event, so it is durable and retried alike.
    """

    data: bytes
    content_type: str = "image/jpeg"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True, slots=True)
class Event:
    """One occurrence, as produced by a driver, before the outbox numbers it.

    ``type`` is dotted, its first part is the topic category (``elevator.fault`` goes to
    ``.../events/elevator``). ``subject`` is a device id, never a person's name.
    ``data`` must be JSON-serialisable.
    """

    type: str
    subject: str
    data: dict[str, Any]
    priority: Priority = Priority.EVENT
    severity: Severity = Severity.INFO
    source: str = ""
    id: str = field(default_factory=uuid7)
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    attachments: tuple[Attachment, ...] = ()

    def __post_init__(self) -> None:
        if not _EVENT_TYPE.fullmatch(self.type):
            # The first part becomes an MQTT topic level: no '/', '+', '#' or spaces.
            raise ValueError(
                "event type must be dotted lowercase words like 'elevator.fault', "
                f"got {self.type!r}"
            )
        if self.time.tzinfo is None:
            raise ValueError("event time must be timezone-aware (UTC)")

    @property
    def category(self) -> str:
        return self.type.split(".", 1)[0]

    def with_source(self, source: str) -> Event:
        """Return a copy stamped with the producing driver's source URI, if it has none."""
        if self.source:
            return self
        return Event(
            type=self.type,
            subject=self.subject,
            data=self.data,
            priority=self.priority,
            severity=self.severity,
            source=source,
            id=self.id,
            time=self.time,
            attachments=self.attachments,
        )


def attachment_topic_suffix(event_id: str, index: int) -> str:
    """Topic suffix (after ``edge/{gateway}/``) of an event's n-th attachment (1-based)."""
    return f"snapshots/{event_id}/{index}"


@functools.lru_cache(maxsize=1024)
def _topic_suffix(priority: Priority, event_type: str) -> str:
    kind = "telemetry" if priority is Priority.TELEMETRY else "events"
    return f"{kind}/{event_type.split('.', 1)[0]}"


def event_topic_suffix(event: Event) -> str:
    """Topic suffix (after ``edge/{gateway}/``) of an event, by its priority and category."""
    return _topic_suffix(event.priority, event.type)


PriorityLabel = Literal["alarm", "event", "telemetry"]
SeverityLabel = Literal["info", "warning", "critical"]
_PRIORITY_LABELS: dict[Priority, PriorityLabel] = {
    Priority.ALARM: "alarm", Priority.EVENT: "event", Priority.TELEMETRY: "telemetry",
}  # fmt: skip
_SEVERITY_LABELS: dict[Severity, SeverityLabel] = {
    Severity.INFO: "info", Severity.WARNING: "warning", Severity.CRITICAL: "critical",
}  # fmt: skip


class AttachmentRef(TypedDict):
    """One binary attachment of an event, published on ``edge/{gateway_id}/{topic_suffix}``."""

    topic_suffix: Annotated[str, Field(pattern=r"^snapshots/[^/]+/[1-9][0-9]*$")]
    contenttype: Annotated[str, Field(description="Media type, e.g. image/jpeg.")]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    bytes: Annotated[int, Field(ge=0)]


class CloudEvent(TypedDict):
    """A CloudEvents 1.0 event in structured JSON mode, as the gateway publishes it."""

    specversion: Literal["1.0"]
    id: Annotated[str, Field(description="UUIDv7; de-duplicate on it (with source).")]
    source: Annotated[str, Field(description="/edge/{gateway_id}/drivers/{driver}, ...")]
    type: Annotated[str, Field(pattern=f"^{EVENT_TYPE_PATTERN}$")]
    subject: Annotated[str, Field(description="Device, zone or camera id; never a name.")]
    time: Annotated[datetime, Field(description="When it happened, RFC 3339 UTC.")]
    datacontenttype: Literal["application/json"]
    dataschema: NotRequired[
        Annotated[str, Field(description="URI of the data schema and its major version.")]
    ]
    seq: Annotated[int, Field(ge=0, description="Gateway-wide, +1 per event; gaps show loss.")]
    priority: PriorityLabel
    severity: SeverityLabel
    clocksync: Literal["ntp", "unsynchronised"]
    data: Annotated[dict[str, Any], Field(description="Type-specific; see dataschema.")]
    attachments: NotRequired[list[AttachmentRef]]


def to_cloudevent(event: Event, *, seq: int, clock_synced: bool) -> CloudEvent:
    """Build the CloudEvents 1.0 structured-mode document for ``event``.

    ``dataschema`` is stamped from the event type table (agent/event_types.py); an
    unregistered type (tests' own) has none.
    """
    doc: CloudEvent = {
        "specversion": SPEC_VERSION,
        "id": event.id,
        "source": event.source or "/edge",
        "type": event.type,
        "subject": event.subject,
        "time": event.time.astimezone(UTC),
        "datacontenttype": JSON_CONTENT_TYPE,
        "seq": seq,
        "priority": _PRIORITY_LABELS[event.priority],
        "severity": _SEVERITY_LABELS[event.severity],
        "clocksync": "ntp" if clock_synced else "unsynchronised",
        "data": event.data,
    }
    schema = dataschema(event.type)
    if schema is not None:
        doc["dataschema"] = schema
    if event.attachments:
        doc["attachments"] = [
            {
                "topic_suffix": attachment_topic_suffix(event.id, n),
                "contenttype": a.content_type,
                "sha256": a.sha256,
                "bytes": len(a.data),
            }
            for n, a in enumerate(event.attachments, start=1)
        ]
    return doc


def encode_cloudevent(event: Event, *, seq: int, clock_synced: bool) -> bytes:
    """Serialise ``event`` to compact UTF-8 JSON bytes (RFC 3339 UTC times ending in Z).

    orjson, because encoding is most of the outbox's CPU time per event (bench/buffer).
    """
    doc = to_cloudevent(event, seq=seq, clock_synced=clock_synced)
    try:
        return orjson.dumps(doc, option=orjson.OPT_UTC_Z)
    except TypeError as exc:
        raise ValueError(f"event {event.type} data is not JSON-serialisable: {exc}") from exc
