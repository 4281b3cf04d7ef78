"""Raise/clear episodes with hold times, and the open ones on disk across restarts.

Minimal version written for the serial driver while the shared extraction from
drivers/modbus (engineer h4) was not yet available; same API (EpisodeTracker,
OpenEpisode, EpisodeStore), so the merge keeps one copy. Pure and synchronous: time is
the caller's monotonic clock; :class:`EpisodeStore` uses agent/state_file.py (atomic).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.state_file import read_json, write_json

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
Scalar = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class Transition:
    key: str
    raised: bool
    held_s: float = 0.0


@dataclass
class _State:
    since: float | None = None
    active: bool = False


class EpisodeTracker:
    """The hold/raise/clear state of a set of string keys (one device's alarms)."""

    def __init__(self) -> None:
        self._states: dict[str, _State] = {}

    def _state(self, key: str) -> _State:
        st = self._states.get(key)
        if st is None:
            st = self._states[key] = _State()
        return st

    def is_active(self, key: str) -> bool:
        st = self._states.get(key)
        return st is not None and st.active

    def active(self) -> list[str]:
        return [k for k, st in self._states.items() if st.active]

    def step(self, key: str, condition: bool, now: float, hold_s: float) -> Transition | None:
        st = self._state(key)
        if not condition:
            return self.clear(key)
        if st.since is None:
            st.since = now
        held = now - st.since
        if not st.active and held >= hold_s:
            st.active = True
            return Transition(key, True, held_s=round(held, 3))
        return None

    def raise_now(self, key: str, now: float) -> Transition | None:
        st = self._state(key)
        if st.active:
            return None
        st.active, st.since = True, now
        return Transition(key, True)

    def clear(self, key: str) -> Transition | None:
        st = self._state(key)
        st.since = None
        if not st.active:
            return None
        st.active = False
        return Transition(key, False)

    def restore(self, key: str, now: float | None = None) -> None:
        st = self._state(key)
        st.active, st.since = True, None

    def forget_pending(self) -> None:
        for st in self._states.values():
            if not st.active:
                st.since = None


@dataclass(frozen=True, slots=True)
class OpenEpisode:
    key: str
    episode: str
    fields: Mapping[str, Scalar] = field(default_factory=dict)

    def to_doc(self) -> dict[str, Any]:
        return {**self.fields, "key": self.key, "episode": self.episode}

    @classmethod
    def from_doc(cls, doc: Any) -> OpenEpisode:
        if not isinstance(doc, dict):
            raise TypeError("an episode must be a mapping")
        key, episode = doc["key"], doc["episode"]
        if not isinstance(key, str) or not key or not isinstance(episode, str) or not episode:
            raise ValueError("key and episode must be non-empty strings")
        return cls(key, episode, {k: v for k, v in doc.items() if k not in ("key", "episode")})


Validate = Callable[[OpenEpisode], None]


class EpisodeStore:
    """``{device id: [open episodes]}`` of one driver, in ``<state_dir>/<name>.episodes.json``."""

    def __init__(self, state_dir: Path, name: str, *, validate: Validate | None = None) -> None:
        self.path = Path(state_dir) / f"{name}.episodes.json"
        self._validate = validate

    def save(self, devices: Mapping[str, Sequence[OpenEpisode]]) -> None:
        """Blocking (fsync): run it in a worker thread."""
        doc = {
            "version": FORMAT_VERSION,
            "devices": {d: [e.to_doc() for e in eps] for d, eps in sorted(devices.items()) if eps},
        }
        write_json(self.path, doc)

    def load(self) -> dict[str, list[OpenEpisode]]:
        try:
            doc = read_json(self.path)
        except ValueError as exc:
            log.warning("ignoring unreadable episode state: %s", exc)
            return {}
        if not isinstance(doc, dict) or doc.get("version") != FORMAT_VERSION:
            return {}
        out: dict[str, list[OpenEpisode]] = {}
        devices = doc.get("devices")
        for device, items in devices.items() if isinstance(devices, dict) else []:
            for item in items if isinstance(items, list) else []:
                try:
                    ep = OpenEpisode.from_doc(item)
                    if self._validate is not None:
                        self._validate(ep)
                except (KeyError, TypeError, ValueError) as exc:
                    log.warning("skipping a malformed episode of %s: %s", device, exc)
                    continue
                out.setdefault(str(device), []).append(ep)
        return out
