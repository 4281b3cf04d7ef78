"""The one table of event types the gateway emits: type -> data model, schema version, channel.

This is the registry of the platform contract (issue 13 item 1, docs/events.md "The
contract as code"). Each entry names the pydantic model the producer builds its ``data``
from, as a ``"module:Class"`` path, so this base-layer module imports no driver and every
layer may read it: :func:`agent.events.to_cloudevent` stamps each event's ``dataschema``
from it, and ``agent/contract/`` (the wiring side) imports the models to write the JSON
Schemas and the AsyncAPI document (``edge-agent contract export``).

Registering a new event type is one line here. ``version`` is the major version of the
``data`` schema: bump it for an incompatible change (a field removed, a type narrowed, a
new required field, an enum value removed); ``tests/contract/`` fails otherwise.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

Channel = Literal["events", "telemetry"]

SCHEMA_URN = "urn:edge-agent:schema"
ENVELOPE_VERSION = 1


@dataclass(frozen=True, slots=True)
class EventType:
    """One event type: its data model, the schema version and the channels it travels on.

    ``channels``: ``events`` for priorities alarm and event, ``telemetry`` for telemetry
    (agent/events.py picks the topic by priority); a type whose priority is configurable
    lists both.
    """

    model: str  # "module:Class", a subclass of agent.events.EventData
    version: int = 1
    channels: tuple[Channel, ...] = ("events",)


_EV: tuple[Channel, ...] = ("events",)
_TM: tuple[Channel, ...] = ("telemetry",)
_GW = "agent.gateway_events"
_MB = "drivers.modbus.events"
_SR = "drivers.serial.events"
_VI = "vision.violations"
_BF = "buffer.reports"

EVENT_TYPES: dict[str, EventType] = {
    # gateway: supervisor, watchdog, forwarder, outbox
    "gateway.health": EventType(f"{_GW}:GatewayHealth"),
    "gateway.forward.rejected": EventType(f"{_GW}:ForwardRejected"),
    "gateway.forward.stalled": EventType(f"{_GW}:ForwardStalled"),
    "gateway.alarm": EventType("agent.gateway_health:GatewayAlarmData"),
    "gateway.telemetry": EventType("agent.status:HealthReadings", channels=_TM),
    "gateway.command": EventType("agent.remote.models:CommandEventData"),
    "gateway.console.change": EventType("agent.console.change:ConsoleChange"),
    "gateway.escalation.sent": EventType("agent.escalation:EscalationData"),
    "gateway.escalation.failed": EventType("agent.escalation:EscalationData"),
    "gateway.escalation.channel": EventType("agent.escalation:ChannelStateData"),
    "gateway.buffer.dropped": EventType(f"{_BF}:BufferDropped"),
    "gateway.buffer.corrupt": EventType(f"{_BF}:BufferCorrupt"),
    "gateway.buffer.lost": EventType(f"{_BF}:BufferLost"),
    "gateway.buffer.damaged": EventType(f"{_BF}:BufferDamaged"),
    # elevators (drivers/modbus)
    "elevator.alarm": EventType(f"{_MB}:ElevatorAlarm"),
    "elevator.fault": EventType(f"{_MB}:ElevatorFault"),
    "elevator.event": EventType(f"{_MB}:ElevatorEvent"),
    "elevator.health": EventType(f"{_MB}:ElevatorHealth"),
    "elevator.mode": EventType(f"{_MB}:ElevatorMode"),
    "elevator.status": EventType(f"{_MB}:ElevatorStatus", channels=_TM),
    # residents' devices (drivers/serial)
    "resident.alarm": EventType(f"{_SR}:ResidentAlarm"),
    "resident.vital": EventType(f"{_SR}:ResidentVital"),
    "resident.device": EventType(f"{_SR}:ResidentDevice"),
    "resident.inactivity": EventType(f"{_SR}:ResidentInactivity"),
    "resident.vitals": EventType(f"{_SR}:ResidentVitals", channels=_TM),
    "serial.port": EventType(f"{_SR}:SerialPortState"),
    # cameras (vision)
    "parking.violation.started": EventType(f"{_VI}:ParkingViolation"),
    "parking.violation.reminder": EventType(f"{_VI}:ParkingViolation"),
    "parking.violation.cleared": EventType(f"{_VI}:ParkingViolation"),
    "camera.offline": EventType(f"{_VI}:CameraOffline"),
    "camera.online": EventType(f"{_VI}:CameraOnline"),
    # the installer's end-to-end check; its priority is configurable
    "synthetic.sample": EventType("drivers.synthetic.driver:SyntheticSample", channels=_EV + _TM),
    "synthetic.alarm": EventType("drivers.synthetic.driver:SyntheticSample", channels=_EV + _TM),
}


def schema_uri(name: str, version: int) -> str:
    """The URI naming a schema and its major version (``$id``, and ``dataschema``).

    e.g. ``urn:edge-agent:schema:elevator.fault:v1``, written to
    ``docs/contract/data/elevator.fault.v1.schema.json``.
    """
    return f"{SCHEMA_URN}:{name}:v{version}"


@functools.lru_cache(maxsize=256)
def dataschema(event_type: str) -> str | None:
    """The ``dataschema`` of an event of ``event_type``; None for an unregistered type."""
    entry = EVENT_TYPES.get(event_type)
    return None if entry is None else schema_uri(event_type, entry.version)
