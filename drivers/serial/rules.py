"""Resident-safety rules for one device: observations in, events out.

Sources (research domain-devices.md §5): NEWS2 bands [S26] with sustained windows while
worn and at rest [S24]; SOS immediate, no debounce [S21]; a wearable fall is an alarm at
once and fall-cancelled clears it; a radar fall is confirmed by stationary dwell or no
motion for 60 s [S15, S23]; silence of a device is itself an alarm; off-wrist, low
battery and 12 h / 24 h inactivity [S28]. Each episode is one ``raised`` and one
``cleared`` event sharing an episode id (agent/episodes.py); a warning that becomes
critical is reported once as ``escalated``. Events carry the device id and the opaque
resident reference only. Time is the caller's clock divided by ``speed``-scaled windows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.episodes import EpisodeTracker, OpenEpisode
from agent.events import Event, Priority, Severity, uuid7
from drivers.serial.codec import Observation
from drivers.serial.config import Thresholds
from drivers.serial.events import EPISODE_MODELS, ResidentVitals

# key -> (event type, priority when raised)
KEYS: dict[str, tuple[str, Priority]] = {
    "SOS": ("resident.alarm", Priority.ALARM),
    "FALL": ("resident.alarm", Priority.ALARM),
    "SILENT": ("resident.alarm", Priority.ALARM),
    "HR_HIGH": ("resident.vital", Priority.ALARM),
    "HR_LOW": ("resident.vital", Priority.ALARM),
    "SPO2_LOW": ("resident.vital", Priority.ALARM),
    "TEMP_HIGH": ("resident.vital", Priority.ALARM),
    "TEMP_LOW": ("resident.vital", Priority.ALARM),
    "RESP_HIGH": ("resident.vital", Priority.ALARM),
    "RESP_LOW": ("resident.vital", Priority.ALARM),
    "OFF_WRIST": ("resident.device", Priority.EVENT),
    "LOW_BATTERY": ("resident.device", Priority.EVENT),
    "INACTIVITY": ("resident.inactivity", Priority.ALARM),
}
VITALS = ("hr", "spo2", "temp", "resp")


def _levels(kind: str, v: float, t: Thresholds) -> list[tuple[str, int, float]]:
    """(key, level 1 warn / 2 critical, window) of each band ``v`` is in."""
    if kind == "hr":
        hi = 2 if v >= t.hr_high_crit else 1 if v >= t.hr_high_warn else 0
        lo = 2 if v <= t.hr_low_crit else 1 if v <= t.hr_low_warn else 0
        win = (t.hr_warn_window_s, t.hr_crit_window_s)
        return [("HR_HIGH", hi, win[hi - 1] if hi else 0), ("HR_LOW", lo, win[lo - 1] if lo else 0)]
    if kind == "spo2":
        lvl = 2 if v <= t.spo2_crit else 1 if v <= t.spo2_warn else 0
        return [("SPO2_LOW", lvl, t.spo2_window_s)]
    if kind == "temp":
        hi = 2 if v >= t.temp_high_crit else 1 if v >= t.temp_high_warn else 0
        return [("TEMP_HIGH", hi, t.temp_window_s),
                ("TEMP_LOW", 2 if v <= t.temp_low_crit else 0, t.temp_window_s)]  # fmt: skip
    hi = 2 if v >= t.resp_high_crit else 1 if v >= t.resp_high_warn else 0
    lo = 2 if v <= t.resp_low_crit else 1 if v <= t.resp_low_warn else 0
    return [("RESP_HIGH", hi, t.resp_window_s), ("RESP_LOW", lo, t.resp_window_s)]


@dataclass
class _Stats:
    n: int = 0
    total: float = 0.0
    lo: float = float("inf")
    hi: float = float("-inf")

    def add(self, v: float) -> None:
        self.n += 1
        self.total += v
        self.lo = min(self.lo, v)
        self.hi = max(self.hi, v)


@dataclass
class ResidentRules:
    """Rules and open episodes of one device (its resident ref travels on every event)."""

    device_id: str
    resident: str
    thresholds: Thresholds
    speed: float = 1.0
    wearable: bool = True
    tracker: EpisodeTracker = field(default_factory=EpisodeTracker)
    episodes: dict[str, tuple[str, Severity]] = field(default_factory=dict)
    last_frame: float | None = None
    last_activity: float | None = None
    worn: bool | None = None
    battery: float | None = None  # last level reported (%); read by the local console
    off_since: float | None = None
    steps: int | None = None
    moving_until: float = 0.0
    fall_at: float | None = None
    seen_seqs: dict[str, int] = field(default_factory=dict)
    readings: dict[str, int] = field(default_factory=dict)
    window: dict[str, _Stats] = field(default_factory=dict)

    def _w(self, seconds: float) -> float:
        return seconds / self.speed

    def _event(self, key: str, state: str, sev: Severity, extra: dict[str, Any]) -> Event:
        etype, prio = KEYS[key]
        model = EPISODE_MODELS[etype].model_validate(
            {"key": key, "state": state, "episode": self.episodes[key][0],
             "resident": self.resident, **extra})  # fmt: skip
        data = model.to_data()
        return Event(type=etype, subject=self.device_id, data=data, priority=prio, severity=sev)

    def _raise(self, key: str, sev: Severity, **extra: Any) -> list[Event]:
        self.episodes[key] = (uuid7(), sev)
        return [self._event(key, "raised", sev, extra)]

    def _clear(self, key: str, **extra: Any) -> list[Event]:
        if self.tracker.clear(key) is None or key not in self.episodes:
            return []
        ev = self._event(key, "cleared", Severity.INFO, extra)
        del self.episodes[key]
        return [ev]

    def _escalate(self, key: str, sev: Severity, **extra: Any) -> list[Event]:
        ep, old = self.episodes[key]
        if old == sev or old == Severity.CRITICAL:
            return []
        self.episodes[key] = (ep, sev)
        return [self._event(key, "escalated", sev, extra)]

    # -- persistence -------------------------------------------------------------------

    def open_episodes(self) -> list[OpenEpisode]:
        return [OpenEpisode(k, ep, {"severity": sev.value})
                for k, (ep, sev) in sorted(self.episodes.items())]  # fmt: skip

    def restore(self, saved: list[OpenEpisode]) -> None:
        for ep in saved:
            if ep.key in KEYS:
                self.tracker.restore(ep.key)
                self.episodes[ep.key] = (ep.episode, Severity(str(ep.fields.get("severity"))))

    # -- observations ------------------------------------------------------------------

    def observe(self, obs: Observation, now: float) -> list[Event]:
        out = self._clear("SILENT") if "SILENT" in self.episodes else []
        self.last_frame = now
        k = obs.kind
        if k in ("sos", "fall", "fall_cancelled", "off_wrist", "low_battery"):
            return out + self._edge(obs, now)
        if k in ("presence", "motion", "body_movement", "steps"):
            out += self._activity(obs, now)
        elif k == "wear":
            out += self._wear(bool(obs.value), now)
        elif k == "battery" and obs.valid:
            self.battery = float(obs.value)
            out += self._battery(self.battery)
        elif k in VITALS and obs.valid:
            out += self._vital(k, float(obs.value), now)
        if k == "dwell" and obs.value and self.fall_at is not None:
            out += self._confirm_fall("dwell")
        return out

    def _edge(self, obs: Observation, now: float) -> list[Event]:
        if obs.seq is not None:
            if self.seen_seqs.get(obs.kind) == obs.seq:
                return []  # a retry whose ACK was lost: already handled
            self.seen_seqs[obs.kind] = obs.seq
        k = obs.kind
        if k == "fall" and not obs.value:
            self.fall_at = None
            return self._clear("FALL", resolution="radar_no_fall")
        if k == "sos":
            # Each press is its own alarm, raised at once; the platform acknowledges it.
            self.tracker.clear("SOS")
            self.episodes.pop("SOS", None)
            self.tracker.raise_now("SOS", now)
            return self._raise("SOS", Severity.CRITICAL, trigger="button")
        if k == "fall":
            if not self.wearable:
                self.fall_at = now
                return []
            if self.tracker.raise_now("FALL", now) is None:
                return []
            return self._raise("FALL", Severity.CRITICAL, trigger="wearable")
        if k == "fall_cancelled":
            return self._clear("FALL", resolution="cancelled")
        if k == "off_wrist":
            return self._wear(False, now)
        return self._battery(None)

    def _confirm_fall(self, how: str) -> list[Event]:
        self.fall_at = None
        if self.tracker.raise_now("FALL", 0.0) is None:
            return []
        return self._raise("FALL", Severity.CRITICAL, trigger=f"radar_{how}")

    def _activity(self, obs: Observation, now: float) -> list[Event]:
        active = False
        if obs.kind == "steps":
            steps = int(obs.value)
            active = self.steps is not None and steps > self.steps
            self.steps = steps
        elif obs.kind == "motion":
            active = int(obs.value) == 2
        elif obs.kind == "body_movement":
            active = int(obs.value) > 10
        if obs.kind == "motion" and int(obs.value) == 2 and self.fall_at is not None:
            self.fall_at = now  # still moving after the fall: wait for stillness
        if self.last_activity is None:
            self.last_activity = now
        if not active:
            return []
        self.last_activity = now
        self.moving_until = now + self._w(60)
        return self._clear("INACTIVITY")

    def _wear(self, worn: bool, now: float) -> list[Event]:
        self.worn = worn
        if worn:
            self.off_since = None
            return self._clear("OFF_WRIST")
        if self.off_since is None:
            self.off_since = now
            self.tracker.forget_pending()
        return []

    def _battery(self, level: float | None) -> list[Event]:
        t = self.thresholds
        if level is not None and level > t.battery_warn + 5:
            return self._clear("LOW_BATTERY")
        sev = Severity.CRITICAL if level is not None and level <= t.battery_crit else (
            Severity.WARNING)  # fmt: skip
        if level is not None and level > t.battery_warn:
            return []
        if not self.tracker.is_active("LOW_BATTERY"):
            self.tracker.raise_now("LOW_BATTERY", 0.0)
            return self._raise("LOW_BATTERY", sev, battery=level)
        return self._escalate("LOW_BATTERY", sev, battery=level)

    def _at_rest(self, now: float) -> bool:
        return self.worn is not False and now >= self.moving_until

    def _vital(self, kind: str, v: float, now: float) -> list[Event]:
        self.window.setdefault(kind, _Stats()).add(v)
        if not self._at_rest(now):
            return []
        out: list[Event] = []
        for key, level, window in _levels(kind, v, self.thresholds):
            out += self._band(key, kind, level, window, v, now)
        return out

    def _band(self, key: str, kind: str, level: int, window: float, v: float,
              now: float) -> list[Event]:  # fmt: skip
        if level == 0:
            self.readings.pop(key, None)
            self.tracker.clear(key + "!crit")
            return self._clear(key, value=v)
        self.readings[key] = self.readings.get(key, 0) + 1
        sev = Severity.CRITICAL if level == 2 else Severity.WARNING
        if level < 2:
            self.tracker.clear(key + "!crit")
        enough = kind != "spo2" or self.readings[key] >= self.thresholds.spo2_min_readings
        if level == 2:
            self.tracker.step(key + "!crit", True, now, self._w(window))
        crit = self.tracker.is_active(key + "!crit")
        if self.tracker.is_active(key):
            return self._escalate(key, Severity.CRITICAL, value=v) if crit and enough else []
        warn_window = self._w(self.thresholds.hr_warn_window_s if kind == "hr" else window)
        t = self.tracker.step(key, True, now, warn_window)
        if crit and enough and t is None:
            t = self.tracker.raise_now(key, now)
        if t is None or not enough:
            if t is not None:  # held, but too few readings yet: not raised
                self.tracker.clear(key)
                self.tracker.step(key, True, now - warn_window, warn_window)
            return []
        sev = Severity.CRITICAL if crit else Severity.WARNING
        return self._raise(key, sev, signal=kind, value=v, held_s=round(t.held_s * self.speed))

    # -- time --------------------------------------------------------------------------

    def tick(self, now: float) -> list[Event]:
        """Time-driven rules: silence, off-wrist duration, inactivity, radar fall."""
        t = self.thresholds
        out: list[Event] = []
        if self.last_frame is not None and now - self.last_frame >= self._w(t.silence_s):
            if self.tracker.raise_now("SILENT", now) is not None:
                self.tracker.forget_pending()
                quiet = round((now - self.last_frame) * self.speed)
                out += self._raise("SILENT", Severity.CRITICAL, silent_s=quiet)
            return out
        if self.off_since is not None:
            off = now - self.off_since
            if off >= self._w(t.off_wrist_s) and self.tracker.raise_now("OFF_WRIST", now):
                out += self._raise("OFF_WRIST", Severity.WARNING)
            if off >= self._w(t.off_wrist_crit_s) and "OFF_WRIST" in self.episodes:
                out += self._escalate("OFF_WRIST", Severity.CRITICAL)
        if self.fall_at is not None and now - self.fall_at >= self._w(t.radar_fall_no_motion_s):
            out += self._confirm_fall("no_motion")
        if self.last_activity is not None:
            idle = now - self.last_activity
            if idle >= self._w(t.inactivity_warn_s) and self.tracker.raise_now("INACTIVITY", now):
                out += self._raise("INACTIVITY", Severity.WARNING)
            if idle >= self._w(t.inactivity_crit_s) and "INACTIVITY" in self.episodes:
                out += self._escalate("INACTIVITY", Severity.CRITICAL)
        return out

    def telemetry(self) -> Event | None:
        """Per-period min / mean / max of each vital signal, then a fresh window."""
        if not self.window:
            return None
        signals = {kind: {"min": s.lo, "mean": round(s.total / s.n, 2), "max": s.hi, "n": s.n}
                   for kind, s in sorted(self.window.items())}  # fmt: skip
        data = ResidentVitals.model_validate({"resident": self.resident, **signals}).to_data()
        self.window = {}
        return Event(type="resident.vitals", subject=self.device_id, data=data,
                     priority=Priority.TELEMETRY)  # fmt: skip
