"""The event envelope: UUIDv7 ids and CloudEvents 1.0 structured JSON."""

from __future__ import annotations

import ast
import json
import re
import uuid
from datetime import UTC, datetime

import pytest

from agent.events import Event, Priority, Severity, encode_cloudevent, event_topic_suffix, uuid7
from tests.shared_data import REPO


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
        "dataschema": "urn:edge-agent:schema:elevator.fault:v1",
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


_DOTTED = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")


def _rule_table_types(tree: ast.AST) -> set[str]:
    """Rule tables map a key to ``("type.name", Priority.X)`` (drivers/serial/rules.py)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Tuple)
            and len(node.elts) >= 2
            and isinstance(node.elts[0], ast.Constant)
            and isinstance(node.elts[0].value, str)
            and _DOTTED.match(node.elts[0].value)
            and isinstance(node.elts[1], ast.Attribute)
            and getattr(node.elts[1].value, "id", None) == "Priority"
        ):
            found.add(node.elts[0].value)
    return found


def _emitted_types() -> set[str]:
    """Event types found in the product's source: ``Event(type="...")`` literals, the
    dotted constants of modules that build events, the elevator device's
    ``_event("<kind>")`` calls and every taxonomy category (``elevator.<category>``)."""
    from drivers.modbus.taxonomy import KINDS

    types = {f"elevator.{k.category}" for k in KINDS.values()}
    for root in ("agent", "drivers", "vision", "buffer"):
        for path in (REPO / root).rglob("*.py"):
            text = path.read_text()
            if "Event(" not in text and "Priority." not in text:
                continue
            tree = ast.parse(text)
            types |= _rule_table_types(tree)
            for node in tree.body:
                if (
                    isinstance(node, ast.Assign)
                    and isinstance(node.value, ast.Constant)
                    and isinstance(node.value.value, str)
                    and _DOTTED.match(node.value.value)
                ):
                    types.add(node.value.value)
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                for kw in node.keywords:
                    if kw.arg == "type" and isinstance(kw.value, ast.Constant):
                        types.add(str(kw.value.value))
                name = getattr(node.func, "attr", None)
                if name == "_event" and node.args and isinstance(node.args[0], ast.Constant):
                    types.add(f"elevator.{node.args[0].value}")
    return types


def test_every_event_type_the_product_emits_is_valid() -> None:
    types = _emitted_types()
    # The scan finds what we know is emitted, so an empty or broken scan fails here.
    documented = set(
        re.findall(r"^\| `([a-z_]+\.[a-z_.]+)` \|", (REPO / "docs" / "events.md").read_text(), re.M)
    )
    assert documented and documented <= types, documented - types
    assert {
        "elevator.fault",
        "elevator.alarm",
        "parking.violation.started",
        "camera.offline",
    } <= types
    for event_type in sorted(types):
        Event(type=event_type, subject="x", data={})
