"""The ``data`` of every ``elevator.*`` event, as typed models (docs/modbus.md "Events").

drivers/modbus/elevator_device.py builds each event's data from these models, and the
platform contract (agent/event_types.py, docs/contract/) is generated from them. Keys,
codes and clear reasons follow the taxonomy of research domain-devices.md §2.2
(drivers/modbus/taxonomy.py).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, WithJsonSchema, field_validator

from agent.events import EventData
from drivers.modbus.elevator_state import ElevatorSnapshot, ServiceMode
from drivers.modbus.taxonomy import KINDS

CLEAR_REASONS = (
    "condition_ended", "inspection_started", "restart_reconciled", "controller_reset",
    "controller_code_changed",
)  # fmt: skip


def _key_of(category: str) -> Any:
    """A taxonomy key of ``category``: an enum in the schema, checked when built."""
    keys = sorted(k for k, kind in KINDS.items() if kind.category == category)

    def check(key: str) -> str:
        if key not in keys:
            raise ValueError(f"{key!r} is not an elevator.{category} key")
        return key

    schema = {"type": "string", "enum": keys, "description": "Taxonomy key."}
    return Annotated[str, AfterValidator(check), WithJsonSchema(schema)]


class _Episode(EventData):
    """One raise or clear of a taxonomy key; both carry the same ``episode`` id."""

    key: str
    state: Literal["raised", "cleared"]
    episode: str = Field(description="Shared by the raise and the clear of one episode.")
    label_zh: str
    source: str = Field(description="derived (a rule on readings) or controller (its code).")
    gb_code: int | None = Field(description="GB-family code, null if it has none.")
    sh_code: int | None = Field(description="Shanghai code, null if it has none.")
    snapshot: ElevatorSnapshot
    held_s: float | None = Field(default=None, description="Raised by a derived rule: hold.")
    reason: str | None = Field(
        default=None, description=f"Cleared only: one of {', '.join(CLEAR_REASONS)}."
    )
    controller_code: int | None = Field(default=None, description="The controller's code.")
    controller_label: str | None = Field(default=None, description="e.g. NICE:E41.")

    @field_validator("snapshot")
    @classmethod
    def _whole_snapshot(cls, snapshot: ElevatorSnapshot) -> ElevatorSnapshot:
        # Mark every field set, so ``to_data`` (which leaves out unset optional fields)
        # always sends the whole snapshot, nulls included, as the schema says.
        return ElevatorSnapshot.model_construct(**dict(snapshot))


class ElevatorAlarm(_Episode):
    """Entrapment (at level, between floors) or the alarm button: life safety."""

    key: _key_of("alarm")  # type: ignore[valid-type]


class ElevatorFault(_Episode):
    """A fault: overtravel, UCM, safety circuits (alarms); door, zone, controller (events)."""

    key: _key_of("fault")  # type: ignore[valid-type]


class ElevatorEvent(_Episode):
    """An operational event of the taxonomy, such as a power loss."""

    key: _key_of("event")  # type: ignore[valid-type]


class ElevatorHealth(EventData):
    """The device stopped answering (``offline`` after N failed polls) or answers again."""

    state: Literal["offline", "online"]
    reason: str = Field(description="offline: timeout, exception, malformed, "
                        "bus_unavailable; online: answering_again.")  # fmt: skip
    unit_id: int
    key: Literal["COMM_LOST"]
    failed_polls: int | None = Field(default=None, description="offline only.")
    exception_code: int | None = Field(default=None, description="Modbus exception, if any.")
    episode: str | None = Field(
        default=None,
        description="Pairs an offline with the online that ends it (kept across restarts).",
    )
    error: str | None = Field(default=None, description="bus_unavailable: why, in words.")


class ElevatorMode(EventData):
    """A service-mode change (inspection, fire service, stopped, ...)."""

    from_: ServiceMode | None = Field(alias="from")
    to: ServiceMode | None


class ElevatorStatus(ElevatorSnapshot):
    """Telemetry: the snapshot, the profile's other points and the active keys.

    Points a profile adds under its own keys appear as further properties.
    """

    model_config = ConfigDict(
        frozen=True, extra="allow", json_schema_serialization_defaults_required=True
    )

    active: list[str] = Field(description="Taxonomy keys raised now.")
