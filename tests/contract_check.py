"""Every event a test receives is checked against the platform contract (docs/contract/).

Hooked into the two places tests receive events: the broker-side subscriber
(tests/broker.py ``Subscriber``, like the platform) and the in-memory sink drivers emit
into (tests/sinks.py ``ListSink``). Each event is validated with ``jsonschema`` against
the envelope schema and its type's data schema, in the *strict* variant (no property the
models do not name); an event of a type the contract does not register fails. A message
on ``edge/+/status`` is validated against the status schema.

The checking happens when the test ends (tests/conftest.py ``contract_violations``), not
as messages arrive: validation costs about a millisecond per event, which in paho's
network thread would slow a subscriber enough for Mosquitto to drop QoS 1 messages from
its queue, and in a driver's event loop would shift the timing the test observes. The
receivers only :func:`watch` themselves; :func:`take_violations` drains what they got.

Tests that exercise the pipeline with made-up types (``test.sample`` and the like)
declare them in :data:`TEST_TYPES`: they are not part of the contract and get no
``dataschema``, but their envelopes are still checked.
"""

from __future__ import annotations

import functools
import json
import re
import threading
import weakref
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from pydantic import BaseModel, ConfigDict

from agent.contract.schemas import envelope_schema, event_schemas, model_schema, payload_schemas
from agent.event_types import EVENT_TYPES
from agent.events import Event, encode_cloudevent


class _AnyData(BaseModel):
    model_config = ConfigDict(extra="allow")


# Types only tests emit, to drive the outbox and the forwarder; never sent by the agent.
TEST_TYPES = frozenset(
    {"test.sample", "test.after", "t.x", "a.b", "fake.tick", "dummy.tick"}
)

_lock = threading.Lock()
_violations: list[str] = []
_seen: dict[str, int] = {}  # event type -> events of it checked in this run
# Receivers' "what arrived since you last asked" methods: held strongly until the end of
# the test that made them (a sink local to ``asyncio.run(main())`` is gone by then), and
# weakly afterwards, for a receiver that outlives its test.
Source = Callable[[], Iterable[tuple[str, bytes] | Event]]
_sources: list[Source] = []
_older: list[weakref.WeakMethod[Source]] = []


def watch(source: Source) -> None:
    """Register a receiver's bound method returning what it received since the last call:
    ``(topic, payload)`` pairs from the broker, or :class:`Event` objects from a sink."""
    with _lock:
        _sources.append(source)


def _drain() -> None:
    with _lock:
        alive = [ref for ref in _older if ref() is not None]
        fresh = list(_sources)
        _older[:] = alive + [weakref.WeakMethod(s) for s in fresh]  # type: ignore[arg-type]
        _sources.clear()
    for source in fresh + [ref() for ref in alive]:
        for item in source() if source is not None else ():
            if isinstance(item, Event):
                check_event(item)
            else:
                check_message(*item)


_formats = FormatChecker()


@_formats.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    # RFC 3339 with a zone; Python's parser accepts the trailing Z since 3.11.
    zoned = r"\d{4}-\d\d-\d\dT.+(Z|[+-]\d\d:\d\d)"
    if not isinstance(value, str) or not re.fullmatch(zoned, value):
        return False
    datetime.fromisoformat(value)
    return True


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=_formats)


@functools.cache
def _envelope() -> Draft202012Validator:
    return _validator(envelope_schema(strict=True).doc)


@functools.cache
def _data() -> dict[str, Draft202012Validator]:
    out = {t: _validator(s.doc) for t, s in event_schemas(strict=True).items()}
    test_schema = model_schema(_AnyData, "test", 1, strict=True).doc
    out.update({t: _validator(test_schema) for t in TEST_TYPES})
    return out


@functools.cache
def _status() -> Draft202012Validator:
    return _validator(payload_schemas(strict=True)["status"].doc)


def warm_up() -> None:
    """Build every validator now (about 2 s), not inside the first test that gets an event."""
    _envelope(), _data(), _status()


def _errors(validator: Draft202012Validator, doc: Any, what: str) -> list[str]:
    if validator.is_valid(doc):  # the fast path; the messages only when something is wrong
        return []
    return [
        f"{what}: {'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
        for e in validator.iter_errors(doc)
    ]


def problems_of_event(doc: Any, topic: str | None = None) -> list[str]:
    """What is wrong with one CloudEvents document (empty: it meets the contract)."""
    if not isinstance(doc, dict):
        return [f"not a JSON object: {doc!r:.80}"]
    etype = str(doc.get("type"))
    with _lock:
        _seen[etype] = _seen.get(etype, 0) + 1
    where = f"{etype} {doc.get('id')}" + (f" on {topic}" if topic else "")
    out = _errors(_envelope(), doc, f"{where}: envelope")
    data = _data().get(etype)
    if data is None:
        out.append(
            f"{where}: event type {etype!r} is not registered in the contract "
            "(agent/event_types.py; docs/events.md 'Registering a new event type')"
        )
        return out
    out += _errors(data, doc.get("data"), f"{where}: data")
    entry = EVENT_TYPES.get(etype)
    if entry is not None and doc.get("dataschema") != _expected_uri(etype):
        out.append(f"{where}: dataschema {doc.get('dataschema')!r}, want {_expected_uri(etype)}")
    if topic is not None and entry is not None:
        channel = topic.split("/")[2] if topic.count("/") >= 3 else ""
        if channel not in entry.channels:
            out.append(f"{where}: sent on channel {channel!r}, contract says {entry.channels}")
        if not topic.endswith("/" + etype.split(".", 1)[0]):
            out.append(f"{where}: topic does not end in the type's category")
    return out


@functools.cache
def _expected_uri(etype: str) -> str:
    return event_schemas()[etype].uri


def _record(found: list[str]) -> None:
    if found:
        with _lock:
            _violations.extend(found)


def check_message(topic: str, payload: bytes) -> None:
    """A message the broker delivered to a test's subscriber (any ``edge/...`` topic).

    Only what the gateway publishes is checked: events, telemetry and status. Receipts
    and commands are the platform's (tests send malformed ones on purpose), snapshots
    are raw bytes.
    """
    parts = topic.split("/")
    if len(parts) < 3 or parts[0] != "edge":
        return
    if parts[2] in ("events", "telemetry"):
        try:
            doc = json.loads(payload)
        except ValueError as exc:
            _record([f"{topic}: not JSON: {exc}"])
            return
        _record(problems_of_event(doc, topic))
    elif parts[2] == "status" and len(parts) == 3 and payload:
        try:
            status = json.loads(payload)
        except ValueError as exc:
            _record([f"{topic}: not JSON: {exc}"])
            return
        _record(_errors(_status(), status, f"{topic}: status"))


def check_event(event: Event) -> None:
    """An event a driver handed to a test's sink: its document as the outbox would make it."""
    try:
        doc = json.loads(encode_cloudevent(event, seq=0, clock_synced=True))
    except ValueError as exc:
        _record([f"{event.type} {event.id}: {exc}"])
        return
    _record(problems_of_event(doc))


def take_violations() -> list[str]:
    """Check what the watched receivers got, then return the violations seen since the
    last call (and forget them)."""
    _drain()
    with _lock:
        found = list(_violations)
        _violations.clear()
    return found


def seen_types() -> dict[str, int]:
    """Event type -> how many events of it were checked so far in this run."""
    with _lock:
        return dict(_seen)
