"""Raise/clear episodes with hold times, and the open ones on disk across restarts.

Every alarm the gateway derives from readings (an elevator entrapment, a low SpO2, a
silent device) follows one lifecycle: a condition must hold for ``hold_s`` before the
episode is raised, it is raised once, and it is cleared once when the condition ends.
The platform sees that as one ``raised`` and one ``cleared`` event sharing an episode id
(docs/events.md). Drivers keep the rules; this module keeps the lifecycle, so the
Modbus and serial drivers cannot drift apart on it (issue 10 item 3).

Pure and synchronous: time is the caller's monotonic clock (tests and simulators with
``--speed`` compress holds), keys are any strings, and nothing here emits events.
:class:`EpisodeStore` saves the open episodes of one driver in one JSON file
(agent/state_file.py: atomic, durable), so a restart neither raises a still-present
episode a second time nor loses the clear of one that ended while the agent was down.
Hold timers are deliberately not saved: a restored episode is simply active, and the
first fresh reading either continues it (no event) or clears it (with the saved id).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.state_file import read_json, write_json

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
Scalar = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class Transition:
    """A key starting (``raised``) or ending an episode; ``held_s``: how long it held."""

    key: str
    raised: bool
    held_s: float = 0.0


@dataclass
class _State:
    since: float | None = None  # when the condition became true (monotonic)
    active: bool = False
    raised_at: float | None = None
    reminded_at: float | None = None


class EpisodeTracker:
    """The hold/raise/clear state of a set of string keys (one device's alarms)."""

    def __init__(self, keys: Iterable[str] = ()) -> None:
        # Keys given up front fix the order of :meth:`active`; others join on first use.
        self._states: dict[str, _State] = {k: _State() for k in keys}

    def _state(self, key: str) -> _State:
        st = self._states.get(key)
        if st is None:
            st = self._states[key] = _State()
        return st

    def is_active(self, key: str) -> bool:
        st = self._states.get(key)
        return st is not None and st.active

    def is_pending(self, key: str) -> bool:
        """The condition is true now (held or not yet held long enough)."""
        st = self._states.get(key)
        return st is not None and st.since is not None

    def active(self) -> list[str]:
        return [k for k, st in self._states.items() if st.active]

    def step(self, key: str, condition: bool, now: float, hold_s: float) -> Transition | None:
        """Feed one evaluation of ``key``'s condition; the transition it causes, if any."""
        st = self._state(key)
        if not condition:
            st.since = None
            return self.clear(key)
        if st.since is None:
            st.since = now
        held = now - st.since
        if not st.active and held >= hold_s:
            st.active, st.raised_at, st.reminded_at = True, now, None
            return Transition(key, True, held_s=round(held, 3))
        return None

    def raise_now(self, key: str, now: float) -> Transition | None:
        """Raise ``key`` without a hold (a device reporting the fault itself, an SOS)."""
        st = self._state(key)
        if st.active:
            return None
        st.active, st.since, st.raised_at, st.reminded_at = True, now, now, None
        return Transition(key, True)

    def clear(self, key: str) -> Transition | None:
        """End ``key``'s episode now, whatever its condition; None if it was not raised."""
        st = self._state(key)
        st.since = None
        if not st.active:
            return None
        st.active, st.raised_at, st.reminded_at = False, None, None
        return Transition(key, False)

    def restore(self, key: str, now: float | None = None) -> None:
        """Mark ``key`` raised after a restart, with its hold already served.

        ``now`` (optional) starts the reminder clock; without it no reminder is due
        until the episode is raised afresh.
        """
        st = self._state(key)
        st.active, st.since, st.raised_at, st.reminded_at = True, None, now, None

    def forget_pending(self) -> None:
        """Restart every hold timer: a condition must not be 'held' across a data gap.

        Raised episodes stay raised; they clear when fresh data shows the condition gone.
        """
        for st in self._states.values():
            if not st.active:
                st.since = None

    def reminders_due(self, now: float, every_s: float) -> list[str]:
        """Active keys raised (or last reminded) at least ``every_s`` ago; marks them."""
        due: list[str] = []
        for key, st in self._states.items():
            if not st.active or st.raised_at is None:
                continue
            last = st.reminded_at if st.reminded_at is not None else st.raised_at
            if now - last >= every_s:
                st.reminded_at = now
                due.append(key)
        return due


@dataclass(frozen=True, slots=True)
class OpenEpisode:
    """One raised, not yet cleared episode: its key, its id, and driver-specific fields.

    On disk the fields sit next to ``key`` and ``episode`` in one flat JSON object.
    """

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
        if not isinstance(key, str) or not key:
            raise ValueError("key must be a non-empty string")
        if not isinstance(episode, str) or not episode:
            raise ValueError("episode id must be a non-empty string")
        rest = {k: v for k, v in doc.items() if k not in ("key", "episode")}
        bad = sorted(k for k, v in rest.items() if not isinstance(v, str | int | float | bool)
                     and v is not None)  # fmt: skip
        if bad:
            raise ValueError(f"fields {bad} must be JSON scalars")
        return cls(key, episode, rest)


Validate = Callable[[OpenEpisode], None]


class EpisodeStore:
    """``{device id: [open episodes]}`` of one driver, in ``<state_dir>/<name>.episodes.json``.

    ``validate`` (optional) raises ValueError/TypeError/KeyError for a loaded episode the
    driver cannot take back (an unknown key, a bad field); it is skipped with a warning.
    """

    def __init__(self, state_dir: Path, name: str, *, validate: Validate | None = None) -> None:
        self.path = Path(state_dir) / f"{name}.episodes.json"
        self._validate = validate

    def save(self, devices: Mapping[str, Sequence[OpenEpisode]]) -> None:
        """Blocking (fsync): run it in a worker thread."""
        doc = {
            "version": FORMAT_VERSION,
            "devices": {
                dev: [e.to_doc() for e in eps] for dev, eps in sorted(devices.items()) if eps
            },
        }
        write_json(self.path, doc)

    def load(self) -> dict[str, list[OpenEpisode]]:
        """What was saved; ``{}`` if nothing was, or if the file is unreadable (logged)."""
        try:
            doc = read_json(self.path)
        except ValueError as exc:
            # A damaged file must not stop the driver: say so once and start clean.
            log.warning("ignoring unreadable episode state: %s", exc)
            return {}
        if doc is None:
            return {}
        if not isinstance(doc, dict) or doc.get("version") != FORMAT_VERSION:
            log.warning("ignoring episode state %s with an unknown format", self.path)
            return {}
        out: dict[str, list[OpenEpisode]] = {}
        devices = doc.get("devices")
        for device, items in devices.items() if isinstance(devices, dict) else []:
            for item in items if isinstance(items, list) else []:
                episode = self._parse(str(device), item)
                if episode is not None:
                    out.setdefault(str(device), []).append(episode)
        return out

    def _parse(self, device: str, item: Any) -> OpenEpisode | None:
        try:
            episode = OpenEpisode.from_doc(item)
            if self._validate is not None:
                self._validate(episode)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("skipping a malformed episode of %s in %s: %s", device, self.path, exc)
            return None
        return episode
