"""The compatibility check against the released contract (docs/contract/released/).

Deliberately incompatible changes, both on schema documents and on a real model swapped
into the event type table, must fail unless the version is bumped; compatible ones pass.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from pydantic import Field

from agent.contract.compat import check_release, incompatibilities, parse_id
from agent.contract.export import RELEASED_DIR, release_problems
from agent.contract.schemas import model_schema
from agent.event_types import EVENT_TYPES, EventType
from agent.events import EventData
from tests.shared_data import REPO

RELEASED = REPO / "docs" / "contract" / RELEASED_DIR


def _released(name: str) -> dict[str, Any]:
    path = next(RELEASED.rglob(f"{name}.v*.schema.json"))
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def test_the_current_contract_is_compatible_with_the_release() -> None:
    assert list(RELEASED.rglob("*.schema.json")), "no released baseline committed"
    assert release_problems(RELEASED) == []


def _alarm() -> dict[str, Any]:
    return copy.deepcopy(_released("elevator.alarm"))


def _removed_field(doc: dict[str, Any]) -> None:
    del doc["properties"]["held_s"]


def _narrowed_type(doc: dict[str, Any]) -> None:
    doc["properties"]["gb_code"] = {"type": "integer"}  # was integer | null


def _new_required(doc: dict[str, Any]) -> None:
    doc["properties"]["building"] = {"type": "string"}
    doc["required"].append("building")


def _removed_enum_value(doc: dict[str, Any]) -> None:
    doc["properties"]["key"]["enum"].remove("ENTRAP_NONLEVEL")


def _no_longer_required(doc: dict[str, Any]) -> None:
    doc["required"].remove("episode")


def _nested_narrowed(doc: dict[str, Any]) -> None:
    floor = doc["$defs"]["ElevatorSnapshot"]["properties"]["floor"]
    floor["anyOf"] = [{"type": "integer", "minimum": 0}, {"type": "null"}]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_removed_field, "$.held_s: field removed"),
        (_narrowed_type, "$.gb_code: type narrowed, no longer allows null"),
        (_new_required, "$.building: new required field"),
        (_removed_enum_value, "$.key: enum value(s) removed: ['ENTRAP_NONLEVEL']"),
        (_no_longer_required, "$.episode: no longer required"),
        (_nested_narrowed, "$.snapshot.floor: minimum tightened to 0"),
    ],
)
def test_incompatible_change_fails_unless_the_version_is_bumped(change: Any, message: str) -> None:
    old = _alarm()
    new = _alarm()
    change(new)
    found = incompatibilities(old, new)
    assert any(p.startswith(message) for p in found), found
    assert any(message in p for p in check_release([old], [new]))
    _name, version = parse_id(new["$id"])
    new["$id"] = new["$id"].replace(f":v{version}", f":v{version + 1}")
    assert check_release([old], [new]) == []


def _optional_added(doc: dict[str, Any]) -> None:
    doc["properties"]["building"] = {"anyOf": [{"type": "string"}, {"type": "null"}]}


def _enum_value_added(doc: dict[str, Any]) -> None:
    doc["properties"]["key"]["enum"].append("ENTRAP_SHAFT")


def _widened(doc: dict[str, Any]) -> None:
    doc["properties"]["label_zh"] = {"anyOf": [{"type": "string"}, {"type": "null"}]}


@pytest.mark.parametrize("change", [_optional_added, _enum_value_added, _widened])
def test_compatible_change_passes_under_the_same_version(change: Any) -> None:
    old, new = _alarm(), _alarm()
    change(new)
    assert incompatibilities(old, new) == []
    assert check_release([old], [new]) == []


def test_a_type_that_disappears_or_goes_back_a_version_is_reported() -> None:
    old = _alarm()
    other = _released("gateway.health")
    assert check_release([old], [other]) == [
        "elevator.alarm: in the released contract, no longer in this one"
    ]
    older = copy.deepcopy(old)
    older["$id"] = older["$id"].replace(":v1", ":v0")
    assert "below the released v1" in check_release([old], [older])[0]


class GatewayHealthBroken(EventData):
    """gateway.health with ``restarts`` made a string and a new required field."""

    driver: str
    state: str
    restarts: str
    error: str | None = None
    host: str = Field(description="new and required")


def test_an_incompatible_model_in_the_table_fails_the_release_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = f"{__name__}:GatewayHealthBroken"
    monkeypatch.setitem(EVENT_TYPES, "gateway.health", EventType(target, version=1))
    problems = release_problems(RELEASED)
    assert "gateway.health v1: $.restarts: type narrowed, no longer allows integer" in "\n".join(
        problems
    ), problems
    assert any("$.host: new required field" in p for p in problems)
    assert any("$.error: no longer required" in p for p in problems)
    assert all(p.endswith("(incompatible: bump the version)") for p in problems)
    # The same change with the major version bumped is a deliberate break: allowed.
    monkeypatch.setitem(EVENT_TYPES, "gateway.health", EventType(target, version=2))
    assert release_problems(RELEASED) == []
    assert model_schema(GatewayHealthBroken, "gateway.health", 2).uri.endswith(":v2")
