"""Typed config of the gateway health source (the ``health:`` section).

Apart from agent/gateway_health.py, which measures: reading a config (``config check``,
the start of ``edge-agent run`` before the uplink) then loads neither asyncio nor ssl nor
the sysfs readers, only pydantic and the agent base (issue 19 item 2: start-up).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from agent.driver import StrictModel


class GatewayHealthConfig(StrictModel):
    """``health:`` in the config; absent means no health source."""

    interval_s: float = Field(default=10.0, ge=1, le=3600, description="Measure this often.")
    telemetry_every_s: float = Field(default=300.0, ge=10, description="gateway.telemetry period.")
    disk_low_fraction: float = Field(
        default=0.10,
        gt=0,
        lt=1,
        description="Free share of the outbox's disk below which to alarm.",
    )
    cert_warn_days: float = Field(default=30.0, ge=1, description="Alarm this long before expiry.")
    sysfs_root: Path = Field(default=Path("/"), description="Where /sys and /proc are (tests).")
