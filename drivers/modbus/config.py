"""Config of the ``modbus`` kind: one physical bus (TCP or RS-485) and its devices.

One driver entry is one bus, so each bus gets exactly one scheduler (research
anchors-gateways.md §7 item 5). Imports only pydantic and the agent base: validating a
config never loads pymodbus.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent.driver import DriverConfigBase

WRITE_KEYS = frozenset({"write", "writes", "allow_write", "allow_writes", "write_points"})
WRITE_REFUSED = (
    "writes to an elevator controller are refused: this agent is a monitoring terminal "
    "and GB/T 42616 terminals do not control lifts"
)


def _refuse_writes(data: Any) -> Any:
    if isinstance(data, dict) and WRITE_KEYS & set(data):
        raise ValueError(WRITE_REFUSED)
    return data


class ModbusDeviceConfig(BaseModel):
    """One controller (unit id) on the bus, described by a profile."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,127}$",
        description="Device id used as the event subject (e.g. the lift registration code).",
    )
    unit_id: int = Field(ge=1, le=247, description="Modbus unit (slave) id.")
    profile: str = Field(
        min_length=1, description="Shipped profile name, or a path to a profile YAML file."
    )
    offline_after_polls: int = Field(
        default=3, ge=1, le=100, description="Failed polls before the device is offline."
    )
    max_registers_per_read: int | None = Field(
        default=None, ge=1, le=125, description="Override the profile's per-request maximum."
    )
    pause_between_requests_ms: int | None = Field(default=None, ge=0, le=10_000)
    poll_periods_ms: dict[str, int] = Field(
        default_factory=dict, description="Override poll-group periods, e.g. {fast: 250}."
    )
    holds_s: dict[str, float] = Field(
        default_factory=dict, description="Hold-time overrides by taxonomy key (seconds)."
    )
    passenger_hold_s: float = Field(default=10.0, ge=0, le=600)
    time_speed: float = Field(
        default=1.0, gt=0, le=1000,
        description="Divides every hold time; only to match 'simulate elevator --speed'.",
    )  # fmt: skip
    status_interval_s: float = Field(
        default=60.0, gt=0, le=86_400, description="Telemetry heartbeat besides on-change."
    )
    top_floor: int | None = Field(default=None, description="If the profile has none.")
    bottom_floor: int | None = None
    rated_speed_mps: float | None = Field(default=None, gt=0)

    _no_writes = model_validator(mode="before")(_refuse_writes)


class ModbusOutputConfig(BaseModel):
    """One named output (a siren's coil, a beacon, a display register) on this bus.

    The only writes this driver makes, and only when the agent's wiring asks for the name
    (agent/actuator.py). Never at a monitored elevator controller's unit id (below).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    unit_id: int = Field(ge=1, le=247, description="Modbus unit of the output device.")
    coil: int | None = Field(default=None, ge=0, le=65535, description="Coil to switch on.")
    holding: int | None = Field(default=None, ge=0, le=65535, description="Holding register.")
    value: int = Field(default=1, ge=0, le=65535, description="Written value (coil: 0/1).")

    @model_validator(mode="after")
    def _one_target(self) -> ModbusOutputConfig:
        if (self.coil is None) == (self.holding is None):
            raise ValueError("an output is either a coil or a holding register")
        if self.coil is not None and self.value not in (0, 1):
            raise ValueError("a coil's value is 0 or 1")
        return self


class ModbusConfig(DriverConfigBase):
    """A Modbus bus polled read-only: TCP (one gateway/controller) or RTU on a serial port."""

    kind: Literal["modbus"]
    transport: Literal["tcp", "rtu"] = "tcp"
    host: str = Field(default="127.0.0.1", description="TCP: controller or gateway host.")
    port: int = Field(default=502, ge=1, le=65535, description="TCP port.")
    serial_port: str = Field(
        default="", description="RTU: e.g. /dev/serial/by-id/usb-FTDI_...-port0."
    )
    baudrate: int = Field(default=9600, ge=300, le=921_600)
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8
    request_timeout_ms: int = Field(
        default=300, ge=10, le=30_000, description="Per-request reply deadline."
    )
    pause_between_requests_ms: int = Field(
        default=0, ge=0, le=10_000, description="Bus turnaround gap after each request."
    )
    offline_probe_interval_ms: int = Field(
        default=5000, ge=10, le=600_000,
        description="How often an offline device is probed (one request), sparing the bus.",
    )  # fmt: skip
    devices: list[ModbusDeviceConfig] = Field(default_factory=list)
    outputs: dict[str, ModbusOutputConfig] = Field(
        default_factory=dict,
        description="Named outputs the agent may switch, e.g. siren: {coil: 16, unit_id: 3}.",
    )

    _no_writes = model_validator(mode="before")(_refuse_writes)

    @model_validator(mode="after")
    def _consistent(self) -> ModbusConfig:
        if self.transport == "rtu" and not self.serial_port:
            raise ValueError("transport rtu needs serial_port")
        if not self.devices and not self.outputs:
            raise ValueError("a bus needs devices to poll or outputs to switch")
        units = [d.unit_id for d in self.devices]
        if any(o.unit_id in units for o in self.outputs.values()):
            raise ValueError(WRITE_REFUSED + " (an output shares a unit_id with a device)")
        if len(units) != len(set(units)):
            raise ValueError("two devices share a unit_id on one bus")
        ids = [d.id for d in self.devices]
        if len(ids) != len(set(ids)):
            raise ValueError("two devices share an id")
        return self
