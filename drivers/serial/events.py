"""The ``data`` of the serial driver's events, as typed models (docs/events.md "Residents").

drivers/serial/rules.py and drivers/serial/driver.py build each event's data from these
models, and the platform contract (agent/event_types.py, docs/contract/) is generated
from them. Rules and bands: research domain-devices.md §5 (NEWS2 [S26], SOS [S21], falls
[S15, S23], inactivity [S28]). Residents appear only as the opaque ``resident`` reference
from the config, never by name.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from agent.events import EventData

EpisodeState = Literal["raised", "cleared", "escalated"]


class _ResidentEpisode(EventData):
    """One step of an episode: ``raised``, ``escalated`` (warning became critical) or
    ``cleared``; all steps of one episode share its ``episode`` id."""

    key: str
    state: EpisodeState
    episode: str
    resident: str = Field(description="Opaque resident reference from the config.")


class ResidentAlarm(_ResidentEpisode):
    """SOS (one event per press, no clear), FALL, or SILENT (no frame for the window)."""

    key: Literal["SOS", "FALL", "SILENT"]
    trigger: Literal["button", "wearable", "radar_dwell", "radar_no_motion"] | None = None
    resolution: Literal["cancelled", "radar_no_fall"] | None = Field(
        default=None, description="FALL cleared: cancelled on the wearable, or no fall."
    )
    silent_s: int | None = Field(default=None, description="SILENT: seconds without a frame.")


class ResidentVital(_ResidentEpisode):
    """A vital sign held in a NEWS2 band (severity warning or critical)."""

    key: Literal["HR_HIGH", "HR_LOW", "SPO2_LOW", "TEMP_HIGH", "TEMP_LOW", "RESP_HIGH",
                 "RESP_LOW"]  # fmt: skip
    signal: Literal["hr", "spo2", "temp", "resp"] | None = Field(default=None,
                                                                 description="Raised only.")
    value: float | None = Field(default=None, description="The reading.")
    held_s: int | None = Field(default=None, description="Raised: how long the band held.")


class ResidentDevice(_ResidentEpisode):
    """OFF_WRIST (warning after 30 min, critical after 2 h) or LOW_BATTERY."""

    key: Literal["OFF_WRIST", "LOW_BATTERY"]
    battery: float | None = Field(default=None, description="LOW_BATTERY: percent, if known.")


class ResidentInactivity(_ResidentEpisode):
    """No motion for 12 h (warning), escalated critical at 24 h."""

    key: Literal["INACTIVITY"]


class VitalStats(EventData):
    """One signal over one telemetry period."""

    min: float
    mean: float
    max: float
    n: int = Field(ge=1)


class ResidentVitals(EventData):
    """Telemetry: per signal min / mean / max / n over the period (default 60 s)."""

    resident: str = Field(description="Opaque resident reference from the config.")
    hr: VitalStats | None = None
    spo2: VitalStats | None = None
    temp: VitalStats | None = None
    resp: VitalStats | None = None


class SerialPortState(EventData):
    """The port went offline or came back, once per transition (subject ``port:<driver>``)."""

    state: Literal["offline", "online"]
    port: str
    codec: str
    error: str | None = None


EPISODE_MODELS: dict[str, type[_ResidentEpisode]] = {
    "resident.alarm": ResidentAlarm,
    "resident.vital": ResidentVital,
    "resident.device": ResidentDevice,
    "resident.inactivity": ResidentInactivity,
}
