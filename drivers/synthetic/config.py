"""Config of the ``synthetic`` kind: numbered test events for end-to-end checks."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from agent.driver import DriverConfigBase


class SyntheticConfig(DriverConfigBase):
    """Emits ``count`` numbered events at ``rate_hz``; installers use it to prove the uplink."""

    kind: Literal["synthetic"]
    count: int = Field(default=100, ge=0, description="Events to emit; 0 means forever.")
    rate_hz: float = Field(default=10.0, gt=0, le=100_000, description="Events per second.")
    priority: Literal["alarm", "event", "telemetry"] = Field(
        default="event", description="Delivery class of the emitted events."
    )
    payload_bytes: int = Field(
        default=0, ge=0, le=256_000, description="Padding added to each event's data."
    )
    event_type: Literal["synthetic.sample", "synthetic.alarm"] = Field(
        default="synthetic.sample",
        description="Type of the emitted events: synthetic.alarm for receipt and escalation "
        "checks; always synthetic.*, so a test source never passes for a real device's "
        "event, and each is in the event contract (agent/event_types.py).",
    )
    severity: Literal["info", "warning", "critical"] = "info"
    key: str | None = Field(default=None, description="data.key of the events, e.g. SOS.")
    batch: int = Field(
        default=64, ge=1, le=4096, description="Events emitted together (1: one at a time)."
    )
