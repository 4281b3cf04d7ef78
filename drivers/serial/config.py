"""Config of the ``serial`` kind: one port, one codec, its devices and their residents.

pydantic only: validating a config never loads pyserial. Defaults come from research
domain-devices.md §5; every threshold can be overridden per device (per resident).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent.driver import DriverConfigBase


class Thresholds(BaseModel):
    """§5 defaults (NEWS2 bands [S26], Apple-style sustained windows [S24])."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hr_high_warn: float = 111
    hr_high_crit: float = 131
    hr_low_warn: float = 50
    hr_low_crit: float = 40
    hr_warn_window_s: float = 600
    hr_crit_window_s: float = 120
    spo2_warn: float = 93
    spo2_crit: float = 91
    spo2_window_s: float = 300
    spo2_min_readings: int = 3
    temp_high_warn: float = 37.3
    temp_high_crit: float = 39.1
    temp_low_crit: float = 35.0
    temp_window_s: float = 600
    resp_low_warn: float = 11
    resp_low_crit: float = 8
    resp_high_warn: float = 21
    resp_high_crit: float = 25
    resp_window_s: float = 300
    silence_s: float = Field(default=600, gt=0, description="No frame for this long: alarm.")
    off_wrist_s: float = 1800
    off_wrist_crit_s: float = 7200
    battery_warn: float = 20
    battery_crit: float = 10
    inactivity_warn_s: float = 12 * 3600
    inactivity_crit_s: float = 24 * 3600
    radar_fall_no_motion_s: float = 60


class SerialDeviceConfig(BaseModel):
    """One wearable or radar; ``resident`` is an opaque reference, never a name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,63}$")
    resident: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Opaque resident ref.")
    frame_id: str = Field(default="", description="Bracelet DEV_ID as 8 hex digits; radars: empty.")
    thresholds: Thresholds = Field(default_factory=Thresholds)


class SerialConfig(DriverConfigBase):
    """A serial port (by-id path or pyserial URL) carrying one codec's frames."""

    kind: Literal["serial"]
    port: str = Field(min_length=1, description="/dev/serial/by-id/... or a pyserial URL.")
    codec: Literal["seeed5359", "tinyframe", "ld2410", "bracelet"]
    baudrate: int = Field(default=0, ge=0, le=1_000_000, description="0: the codec's usual.")
    time_speed: float = Field(
        default=1.0,
        gt=0,
        le=100_000,
        description="Divides every window; only to match the simulator.",
    )
    telemetry_period_s: float = Field(default=60, gt=0)
    devices: list[SerialDeviceConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> SerialConfig:
        ids = [d.id for d in self.devices]
        if len(ids) != len(set(ids)):
            raise ValueError("two devices share an id")
        if self.codec != "bracelet" and len(self.devices) != 1:
            raise ValueError(f"codec {self.codec} carries one device per port")
        if self.codec == "bracelet" and any(len(d.frame_id) != 8 for d in self.devices):
            raise ValueError("bracelet devices need frame_id (8 hex digits)")
        return self
