"""Typed settings of the ``camera`` driver kind: source, zones, sampling and evidence.

Imported by the agent's config loader on every gateway, so it stays cheap: pydantic, the
driver base and the vision value types only (no numpy, no OpenCV). Zone polygons are
checked here (with ``vision.geometry``) so an installer gets a clear message
("edges 1-2 and 3-4 cross") instead of a silently wrong zone.
"""

from __future__ import annotations

import re
from datetime import time as dtime
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from agent.driver import DriverConfigBase, StrictModel
from vision.geometry import check_polygon
from vision.model_config import ModelConfig

ZoneKind = Literal[
    "corridor", "fire_lane", "entrance", "exit", "elevator_car", "lobby", "stairwell", "other"
]

# Starting points from the research note (shared/research/anchors-vision.md §5): people stop
# in corridors to unlock doors, so 3 min; fire lanes and exits 1 min; an elevator car must
# react within seconds (commercial blockers act in 1-2 s).
DEFAULT_GRACE_S: dict[str, float] = {
    "corridor": 180.0,
    "fire_lane": 60.0,
    "entrance": 180.0,
    "exit": 60.0,
    "elevator_car": 3.0,
    "lobby": 180.0,
    "stairwell": 60.0,
    "other": 180.0,
}
# How long a bike may be unseen (occluded, missed) before its candidate is dropped.
DEFAULT_GAP_TOLERANCE_S: dict[str, float] = dict.fromkeys(DEFAULT_GRACE_S, 60.0) | {
    "elevator_car": 10.0
}

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


_Strict = StrictModel  # the one strict base (agent/driver.py)


class ScheduleWindow(_Strict):
    """A weekly time window in which a zone is enforced (e.g. fire lane strict at night)."""

    days: list[Day] = Field(
        default_factory=lambda: list(_DAYS),
        description="Days the window starts on; all days if omitted.",
    )
    start: str = Field(description="Local start time HH:MM.")
    end: str = Field(description="Local end time HH:MM; earlier than start means past midnight.")

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        if not _HHMM.match(v):
            raise ValueError(f"time {v!r} must be HH:MM (24 h), e.g. '22:00'")
        return v

    def start_time(self) -> dtime:
        return dtime.fromisoformat(self.start)

    def end_time(self) -> dtime:
        return dtime.fromisoformat(self.end)


class ZoneConfig(_Strict):
    """One area where a parked two-wheeler is a violation."""

    id: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
        description="Zone id; part of the event subject ('<camera>/<zone>').",
    )
    kind: ZoneKind = Field(description="What the area is; sets default grace and priority.")
    polygon: list[tuple[float, float]] = Field(
        description="Outline as [x, y] fractions of the frame (0..1), in order, >= 3 points."
    )
    grace_s: float = Field(
        default=-1.0,
        ge=0,
        le=86_400,
        description="Continuous unattended presence before a violation; default by kind.",
    )
    gap_tolerance_s: float = Field(
        default=-1.0,
        gt=0,
        le=3_600,
        description="How long the bike may be unseen (occluded, missed) before it counts as "
        "gone; default by kind.",
    )
    reminder_every_s: float = Field(
        default=0.0, ge=0, description="Repeat a reminder while the violation lasts; 0 = off."
    )
    hysteresis: float = Field(
        default=0.02,
        ge=0,
        le=0.2,
        description="A known bike stays 'in' until its bottom-centre is this far outside the "
        "outline (fraction of the frame), so box jitter on the edge does not flap.",
    )
    schedules: list[ScheduleWindow] = Field(
        default_factory=list, description="When the zone is enforced; always if empty."
    )
    timezone: str | None = Field(
        default=None, description="IANA zone for schedules (e.g. 'Asia/Shanghai'); host local."
    )

    elevator: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="elevator_car zones only: the device id of the Modbus lift this car "
        "belongs to, carried in the zone's events so the platform attaches them to that lift.",
    )

    @model_validator(mode="after")
    def _elevator_only_in_cars(self) -> ZoneConfig:
        if self.elevator is not None and self.kind != "elevator_car":
            raise ValueError(f"elevator is only for kind elevator_car (this zone is {self.kind})")
        return self

    @property
    def attendance_pauses(self) -> bool:
        """Whether a person standing with the bike pauses the timer.

        Not in an elevator car: there the rider beside the bike *is* the offence (taking an
        e-bike into a lift is what Shanghai's code forbids, and what commercial elevator
        blockers react to within 1-2 s; shared/research/anchors-vision.md, grace table).
        """
        return self.kind != "elevator_car"

    @model_validator(mode="before")
    @classmethod
    def _defaults_by_kind(cls, data: Any) -> Any:
        if isinstance(data, dict):
            kind = data.get("kind")
            if isinstance(kind, str) and kind in DEFAULT_GRACE_S:
                data = dict(data)
                data.setdefault("grace_s", DEFAULT_GRACE_S[kind])
                data.setdefault("gap_tolerance_s", DEFAULT_GAP_TOLERANCE_S[kind])
        return data

    @field_validator("polygon")
    @classmethod
    def _valid_polygon(cls, v: list[tuple[float, float]]) -> list[tuple[float, float]]:
        check_polygon([(float(x), float(y)) for x, y in v])
        return v

    @property
    def is_alarm(self) -> bool:
        """Elevator cars raise alarm-priority events: an e-bike fire there is deadly."""
        return self.kind == "elevator_car"


class SamplingSettings(_Strict):
    """How often frames are sent to the detector; slowed down under CPU load."""

    idle_interval_s: float = Field(default=1.0, gt=0, le=60, description="With no candidate.")
    active_interval_s: float = Field(
        default=0.5, gt=0, le=60, description="While a candidate or violation is open."
    )
    max_interval_s: float = Field(
        default=5.0, gt=0, le=300, description="Slowest rate when the CPU is saturated."
    )
    rescan_every_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="Re-scan each zone (cropped, higher resolution) this often.",
    )
    zone_crops: bool = Field(
        default=False, description="Also detect on a crop around each zone during re-scans."
    )

    @model_validator(mode="after")
    def _ordered(self) -> SamplingSettings:
        if not self.active_interval_s <= self.idle_interval_s <= self.max_interval_s:
            raise ValueError(
                "need active_interval_s <= idle_interval_s <= max_interval_s "
                f"(got {self.active_interval_s}, {self.idle_interval_s}, {self.max_interval_s})"
            )
        return self


class EvidenceSettings(_Strict):
    """Snapshots attached to a violation: first sighting and confirmation, frame + crop."""

    enabled: bool = Field(default=True, description="Attach snapshots to violation events.")
    max_bytes: int = Field(default=100_000, ge=10_000, le=1_000_000, description="Budget per JPEG.")
    max_width: int = Field(default=1280, ge=160, le=4096, description="Full-frame width cap.")
    quality: int = Field(default=80, ge=20, le=95, description="Starting JPEG quality.")
    crop_margin: float = Field(
        default=0.3, ge=0, le=2, description="Margin around the bike in its crop (box sizes)."
    )


class CameraConfig(DriverConfigBase):
    """A camera watching one or more no-parking zones."""

    kind: Literal["camera"]
    source: str = Field(
        min_length=1,
        description="rtsp://..., http(s)://... (MJPEG), /dev/videoN or a USB index, or a "
        "video file path.",
    )
    model: ModelConfig
    zones: list[ZoneConfig] = Field(min_length=1)
    sampling: SamplingSettings = Field(default_factory=SamplingSettings)
    evidence: EvidenceSettings = Field(default_factory=EvidenceSettings)
    offline_after_s: float = Field(
        default=20.0, gt=0, le=3600, description="Raise camera.offline after this long."
    )
    open_timeout_s: float = Field(default=5.0, gt=0, le=120, description="Stream open deadline.")
    read_timeout_s: float = Field(default=5.0, gt=0, le=120, description="Frame read deadline.")
    reconnect_max_s: float = Field(
        default=60.0, ge=1, le=3600, description="Longest wait between reopen attempts."
    )
    file_end: Literal["stop", "loop"] = Field(
        default="stop",
        description="Video files only: at the end, stop (camera goes offline) or loop.",
    )
    inference_region: Literal["auto", "full"] | tuple[float, float, float, float] = Field(
        default="full",
        description="What the detector sees: 'full' frame; 'auto' = the crop around the "
        "zones (with margin) when it covers at most 60 % of the frame, so distant bikes keep "
        "their pixels; or [x1, y1, x2, y2] as fractions of the frame. Boxes, zones and "
        "snapshots stay in full-frame coordinates.",
    )

    @field_validator("inference_region")
    @classmethod
    def _region_in_frame(cls, v: Any) -> Any:
        if isinstance(v, tuple):
            x1, y1, x2, y2 = v
            if not (0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1):
                raise ValueError(
                    "inference_region [x1, y1, x2, y2] must be fractions 0..1, x1 < x2, y1 < y2"
                )
        return v

    @field_validator("zones")
    @classmethod
    def _unique_zone_ids(cls, zones: list[ZoneConfig]) -> list[ZoneConfig]:
        seen: set[str] = set()
        for z in zones:
            if z.id in seen:
                raise ValueError(f"zone id {z.id!r} is used twice")
            seen.add(z.id)
        return zones

    def zone(self, zone_id: str) -> ZoneConfig:
        for z in self.zones:
            if z.id == zone_id:
                return z
        raise KeyError(zone_id)
