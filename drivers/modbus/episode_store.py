"""Raised fault episodes of one Modbus driver on disk (the shared agent/episodes.py store).

The platform sees each fault as one ``raised`` and one ``cleared`` event sharing an
``episode`` id (docs/modbus.md). Without this file a restart of the driver or the agent
would raise a still-present entrapment a second time under a new id, and a fault that
ended while the agent was down would never be cleared. One JSON file per Modbus driver,
``modbus-<driver>.episodes.json``, replaced atomically on every raise/clear.

This module only adds what is Modbus-specific to the shared store: each episode's
``source`` (derived rule or controller code) and controller ``code``, and the check that
a saved key is still a taxonomy key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agent import episodes
from drivers.modbus.taxonomy import KINDS

SOURCES = ("derived", "controller")


@dataclass(frozen=True, slots=True)
class OpenEpisode:
    """One raised, not yet cleared fault of one device."""

    key: str
    episode: str
    source: str  # "derived" | "controller"
    code: int | None = None

    def to_shared(self) -> episodes.OpenEpisode:
        return episodes.OpenEpisode(
            self.key, self.episode, {"source": self.source, "code": self.code}
        )

    @classmethod
    def from_shared(cls, ep: episodes.OpenEpisode) -> OpenEpisode:
        source, code = ep.fields.get("source"), ep.fields.get("code")
        if ep.key not in KINDS:
            raise ValueError(f"unknown fault key {ep.key!r}")
        if not isinstance(source, str) or source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
        if code is not None and (isinstance(code, bool) or not isinstance(code, int)):
            raise ValueError(f"code must be an integer, got {code!r}")
        return cls(ep.key, ep.episode, source, code)


def _validate(ep: episodes.OpenEpisode) -> None:
    OpenEpisode.from_shared(ep)


class EpisodeStore:
    """``{device id: [open episodes]}`` for one Modbus driver."""

    def __init__(self, state_dir: Path, driver_name: str) -> None:
        self._store = episodes.EpisodeStore(state_dir, f"modbus-{driver_name}", validate=_validate)
        self.path = self._store.path

    def save(self, devices: dict[str, list[OpenEpisode]]) -> None:
        """Blocking (fsync): run it in a worker thread."""
        self._store.save({dev: [e.to_shared() for e in eps] for dev, eps in devices.items()})

    def load(self) -> dict[str, list[OpenEpisode]]:
        """What was saved; ``{}`` if nothing was, or if the file is unreadable (logged)."""
        return {
            dev: [OpenEpisode.from_shared(e) for e in eps]
            for dev, eps in self._store.load().items()
        }
