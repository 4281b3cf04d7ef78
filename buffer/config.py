"""Typed settings of the SQLite outbox."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Quotas(BaseModel):
    """Share of ``max_bytes`` each shed-able class may hold. Alarms have no cap."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    telemetry: float = Field(default=0.3, gt=0, le=1, description="Fraction for telemetry.")
    event: float = Field(default=0.7, gt=0, le=1, description="Fraction for events.")


class BufferConfig(BaseModel):
    """Where and how much the outbox keeps while the uplink is down."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path = Field(description="SQLite file; its directory must be writable.")
    max_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=64 * 1024,
        description="Payload bytes kept before shedding telemetry, then events.",
    )
    max_age_s: float = Field(
        default=30 * 24 * 3600,
        gt=0,
        description="Telemetry and events older than this are dropped (alarms never).",
    )
    max_file_bytes: int | None = Field(
        default=None,
        ge=1024 * 1024,
        description="Hard cap on the SQLite file (PRAGMA max_page_count): the outbox sheds "
        "telemetry, then events, instead of filling the disk.",
    )
    quotas: Quotas = Field(default_factory=Quotas)
    synchronous: Literal["NORMAL", "FULL"] = Field(
        default="FULL",
        description="FULL survives power loss on every commit; NORMAL only at checkpoints.",
    )
    drop_report_interval_s: float = Field(
        default=10.0, gt=0, description="Shortest gap between two gateway.buffer.dropped events."
    )
