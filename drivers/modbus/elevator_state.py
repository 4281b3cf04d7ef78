"""The normalised elevator snapshot, built from decoded point values.

Field names and encodings follow the GB-family model of research domain-devices.md §2.1.
A profile maps its registers onto these names by giving its points the same keys (and
enum maps that translate raw codes into the words below); points with other keys are
extra telemetry. Anything a controller does not expose stays ``None`` and the rules that
need it stay silent.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict

ServiceMode = Literal[
    "stopped", "normal", "inspection", "fire_return", "firefighter",
    "emergency_power", "earthquake", "unknown", "fault",
]  # fmt: skip
# Indexes 0-7 are the GB service_mode codes (§2.1); ``fault`` (controller in its fault
# mode, e.g. NICE3000+ mode 5 故障, §3.1) has no GB code and only comes from enum maps.
Direction = Literal["none", "up", "down"]
DoorState = Literal["opening", "open", "closing", "closed"]
SERVICE_MODES: tuple[str, ...] = get_args(ServiceMode)
DIRECTIONS: tuple[str, ...] = get_args(Direction)
# "unknown" is a raw door code that a snapshot keeps as None.
DOOR_STATES: tuple[str, ...] = ("unknown", *get_args(DoorState))


class ElevatorSnapshot(BaseModel):
    """One poll's view of a car. ``None`` means the controller does not tell us.

    A pydantic model because it is also the ``snapshot`` of every elevator fault event and
    the body of ``elevator.status`` (drivers/modbus/events.py): the contract's schema of
    those is generated from these fields.
    """

    # Every field is in every event (null when unknown): the schema says so.
    model_config = ConfigDict(
        frozen=True, extra="forbid", json_schema_serialization_defaults_required=True
    )

    service_mode: ServiceMode | None = None
    running: bool | None = None
    direction: Direction | None = None
    floor: int | None = None
    door_zone: bool | None = None
    door: DoorState | None = None
    passenger: bool | None = None
    speed_mps: float | None = None
    load_pct: float | None = None
    power_on_mains: bool | None = None
    safety_circuit_ok: bool | None = None
    door_lock_circuit_ok: bool | None = None
    alarm_button: bool | None = None
    controller_fault: int | None = None
    top_floor: int | None = None
    bottom_floor: int | None = None
    rated_speed_mps: float | None = None

    def to_data(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def state_key(self) -> tuple[Any, ...]:
        """What counts as a change worth a telemetry event (not speed or load jitter)."""
        return (
            self.service_mode, self.running, self.direction, self.floor, self.door_zone,
            self.door, self.passenger, self.power_on_mains, self.safety_circuit_ok,
            self.door_lock_circuit_ok, self.alarm_button, self.controller_fault,
        )  # fmt: skip


_FIELDS = set(ElevatorSnapshot.model_fields)
_BOOL = {
    "running", "door_zone", "passenger", "power_on_mains", "safety_circuit_ok",
    "door_lock_circuit_ok", "alarm_button",
}  # fmt: skip
_INT = {"floor", "controller_fault", "top_floor", "bottom_floor"}
_FLOAT = {"speed_mps", "load_pct", "rated_speed_mps"}
_CHOICES = {"service_mode": SERVICE_MODES, "direction": DIRECTIONS, "door": DOOR_STATES}


def _normalise(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in _BOOL:
        return bool(value)
    if name in _INT:
        return int(value)
    if name in _FLOAT:
        return float(value)
    if name in _CHOICES:
        if isinstance(value, int) and not isinstance(value, bool):
            options = _CHOICES[name]
            return options[value] if 0 <= value < len(options) else None
        text = str(value)
        return text if text in _CHOICES[name] else None
    return value


def build_snapshot(values: dict[str, Any]) -> ElevatorSnapshot:
    """Snapshot from ``{point key: decoded value}``; unknown keys are ignored.

    ``door_closed`` (a closed-limit bit, as on NICE3000+ 0x101B b4) fills ``door`` when
    the profile has no full door state.
    """
    kwargs = {name: _normalise(name, values.get(name)) for name in _FIELDS}
    if kwargs["door"] is None and values.get("door_closed") is not None:
        kwargs["door"] = "closed" if values["door_closed"] else "open"
    if kwargs["door"] == "unknown":
        kwargs["door"] = None
    if kwargs["running"] is None and kwargs["speed_mps"] is not None:
        # Maixin's rule (domain-devices.md §1.2): speed <= 0.01 m/s means stopped.
        kwargs["running"] = abs(kwargs["speed_mps"]) > 0.01
    # Values are normalised above: skip pydantic's validation on the polling path.
    return ElevatorSnapshot.model_construct(**kwargs)
