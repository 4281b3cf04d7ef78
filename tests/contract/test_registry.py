"""The event type table (agent/event_types.py) covers everything the product emits."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from agent.contract.schemas import all_schemas, event_schemas, load_model
from agent.event_types import EVENT_TYPES, dataschema, schema_uri
from agent.events import Event, EventData, encode_cloudevent
from drivers.modbus.taxonomy import KINDS
from drivers.serial.events import EPISODE_MODELS
from drivers.serial.rules import KEYS
from tests.contract_check import TEST_TYPES, problems_of_event
from tests.spine.test_events import _emitted_types


def test_every_type_the_product_emits_is_registered() -> None:
    emitted = _emitted_types()
    assert {"elevator.alarm", "resident.alarm", "gateway.buffer.lost"} <= emitted
    missing = sorted(emitted - set(EVENT_TYPES))
    assert not missing, f"emitted but not in agent/event_types.py: {missing}"
    assert not TEST_TYPES & set(EVENT_TYPES)


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_each_entry_names_an_event_data_model(event_type: str) -> None:
    entry = EVENT_TYPES[event_type]
    model = load_model(entry.model)
    assert issubclass(model, EventData) or callable(getattr(model, "to_data", None))
    assert entry.version >= 1 and entry.channels
    assert dataschema(event_type) == schema_uri(event_type, entry.version)


def test_every_schema_is_valid_draft_2020_12_with_its_id() -> None:
    schemas = all_schemas()
    assert len(schemas) == len(EVENT_TYPES) + 5  # envelope, status, receipt, 2 command
    for path, schema in schemas.items():
        Draft202012Validator.check_schema(schema.doc)
        assert schema.doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema.doc["$id"] == schema.uri, path
        assert f"{schema.name}.v{schema.version}.schema.json" in path


def test_serial_rule_keys_are_the_model_enums() -> None:
    # drivers/serial/rules.py KEYS decides the type of each key; its model must take it.
    schemas = event_schemas()
    for key, (etype, _prio) in KEYS.items():
        assert etype in EPISODE_MODELS
        prop = schemas[etype].doc["properties"]["key"]
        assert key in prop.get("enum", [prop.get("const")]), (key, etype)


def test_elevator_taxonomy_keys_are_the_model_enums() -> None:
    schemas = event_schemas()
    for key, kind in KINDS.items():
        assert key in schemas[f"elevator.{kind.category}"].doc["properties"]["key"]["enum"]


def test_unregistered_type_fails_with_a_clear_message() -> None:
    doc = _doc(Event(type="gateway.mystery", subject="x", data={"a": 1}))
    problems = problems_of_event(doc)
    assert len(problems) == 1
    assert "'gateway.mystery' is not registered in the contract" in problems[0]
    assert "agent/event_types.py" in problems[0]


def test_the_checker_finds_a_bad_field_and_a_missing_one() -> None:
    good = {"driver": "d", "state": "running", "restarts": 0, "error": None}
    assert problems_of_event(_doc(Event(type="gateway.health", subject="d", data=good))) == []
    bad = {**good, "restarts": "three", "surprise": 1}
    del bad["driver"]
    found = "\n".join(problems_of_event(_doc(Event(type="gateway.health", subject="d", data=bad))))
    assert "restarts: 'three' is not of type 'integer'" in found
    assert "'driver' is a required property" in found
    assert "'surprise' was unexpected" in found  # strict: what the models do not name


def test_the_checker_wants_the_channel_the_contract_names() -> None:
    data = {"pending": 3, "stalled_s": 300, "connected": False}
    doc = _doc(Event(type="gateway.forward.stalled", subject="forwarder", data=data))
    assert problems_of_event(doc, "edge/gw/events/gateway") == []
    assert "contract says ('events',)" in problems_of_event(doc, "edge/gw/telemetry/gateway")[0]


def _doc(event: Event) -> dict[str, object]:
    import json

    result: dict[str, object] = json.loads(encode_cloudevent(event, seq=7, clock_synced=True))
    return result


def test_the_outbox_reports_meet_the_contract() -> None:
    # Made inside the outbox, so most tests see them only in SQLite, not on a sink.
    from buffer import reports

    events = [
        reports.dropped({"telemetry": 3, "event": 0}, {"telemetry": 9, "event": 1}, dead=1,
                        source="/edge/gw/buffer"),
        reports.corrupt("/var/lib/edge-agent/outbox.db.corrupt-1", source="/edge/gw/buffer"),
        reports.lost(10, 12, source="/edge/gw/buffer"),
        reports.damaged(2, [4, 5], source="/edge/gw/buffer"),
    ]  # fmt: skip
    for event in events:
        assert problems_of_event(_doc(event), "edge/gw/events/gateway") == [], event.type


def test_schemas_use_only_keywords_draft_07_reads_the_same() -> None:
    # The AsyncAPI document declares them draft-07 (agent/contract/asyncapi.py).
    newer = {"prefixItems", "unevaluatedProperties", "unevaluatedItems", "dependentSchemas",
             "dependentRequired", "$anchor", "$dynamicRef", "$dynamicAnchor", "minContains",
             "maxContains"}  # fmt: skip

    def keys(node: object) -> set[str]:
        if isinstance(node, dict):
            return set(node) | {k for v in node.values() for k in keys(v)}
        if isinstance(node, list):
            return {k for v in node for k in keys(v)}
        return set()

    for path, schema in all_schemas().items():
        assert not keys(schema.doc) & newer, path
