"""The event envelope: UUIDv7 ids and CloudEvents 1.0 structured JSON."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from agent.events import Event, Priority, Severity, encode_cloudevent, event_topic_suffix, uuid7


def test_uuid7_is_version_7_rfc_variant_and_time_ordered() -> None:
    ids = [uuid7() for _ in range(2000)]
    assert len(set(ids)) == 2000
    for s in ids[:50]:
        u = uuid.UUID(s)
        assert u.version == 7 and u.variant == uuid.RFC_4122
    stamps = [int(s.replace("-", "")[:12], 16) for s in ids]
    assert stamps == sorted(stamps)


def test_cloudevent_document() -> None:
    e = Event(
        type="elevator.fault",
        subject="lift-3",
        data={"code": "E30"},
        priority=Priority.ALARM,
        severity=Severity.CRITICAL,
        source="/edge/gw/drivers/m",
        time=datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC),
    )
    doc = json.loads(encode_cloudevent(e, seq=42, clock_synced=False))
    assert doc == {
        "specversion": "1.0",
        "id": e.id,
        "source": "/edge/gw/drivers/m",
        "type": "elevator.fault",
        "subject": "lift-3",
        "time": "2026-01-02T03:04:05.006000Z",
        "datacontenttype": "application/json",
        "seq": 42,
        "priority": "alarm",
        "severity": "critical",
        "clocksync": "unsynchronised",
        "data": {"code": "E30"},
    }
    assert event_topic_suffix(e) == "events/elevator"
    tele = Event(type="elevator.status", subject="lift-3", data={}, priority=Priority.TELEMETRY)
    assert event_topic_suffix(tele) == "telemetry/elevator"


def test_bad_events_are_refused() -> None:
    with pytest.raises(ValueError, match="dotted"):
        Event(type="nodot", subject="x", data={})
    with pytest.raises(ValueError, match="timezone"):
        Event(type="a.b", subject="x", data={}, time=datetime(2026, 1, 1))


@pytest.mark.parametrize(
    "bad", ["Elevator.fault", "lift/b2.fault", "lift+.fault", "lift#.x", "a. b", "a..b", "a.b."]
)
def test_event_types_cannot_break_topics(bad: str) -> None:
    # The first part of the type is an MQTT topic level.
    with pytest.raises(ValueError, match="dotted lowercase"):
        Event(type=bad, subject="x", data={})


def test_every_event_type_the_product_emits_is_valid() -> None:
    for good in ("elevator.fault", "parking.violation.started", "gateway.buffer.dropped"):
        Event(type=good, subject="x", data={})
