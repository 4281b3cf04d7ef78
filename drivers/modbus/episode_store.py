"""Raised fault episodes on disk, so a restart neither raises them again nor loses a clear.

The platform sees each fault as one ``raised`` and one ``cleared`` event sharing an
``episode`` id (docs/modbus.md). Episodes live in the fault engine's memory; without
this file a restart of the driver or the agent would raise a still-present entrapment a
second time under a new id, and a fault that ended while the agent was down would never
be cleared. One JSON file per Modbus driver, replaced atomically on every raise/clear.

Hold timers are not saved: after a restart a restored episode is simply active, and the
first fresh reading either continues it (condition still true: no event) or clears it
(with the saved episode id).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.state_file import read_json, write_json
from drivers.modbus.taxonomy import KINDS

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
SOURCES = ("derived", "controller")


@dataclass(frozen=True, slots=True)
class OpenEpisode:
    """One raised, not yet cleared fault of one device."""

    key: str
    episode: str
    source: str  # "derived" | "controller"
    code: int | None = None

    def to_doc(self) -> dict[str, Any]:
        return {"key": self.key, "episode": self.episode, "source": self.source, "code": self.code}

    @classmethod
    def from_doc(cls, doc: Any) -> OpenEpisode:
        if not isinstance(doc, dict):
            raise TypeError("an episode must be a mapping")
        key, episode, source, code = doc["key"], doc["episode"], doc["source"], doc.get("code")
        if key not in KINDS:
            raise ValueError(f"unknown fault key {key!r}")
        if not isinstance(episode, str) or not episode:
            raise ValueError("episode id must be a non-empty string")
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
        if code is not None and (isinstance(code, bool) or not isinstance(code, int)):
            raise ValueError(f"code must be an integer, got {code!r}")
        return cls(key, episode, source, code)


class EpisodeStore:
    """``{device id: [open episodes]}`` for one Modbus driver."""

    def __init__(self, state_dir: Path, driver_name: str) -> None:
        self.path = Path(state_dir) / f"modbus-{driver_name}.episodes.json"

    def save(self, devices: dict[str, list[OpenEpisode]]) -> None:
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
            # A damaged file must not stop the bus: say so once and start clean.
            log.warning("ignoring unreadable fault episode state: %s", exc)
            return {}
        if doc is None:
            return {}
        if not isinstance(doc, dict) or doc.get("version") != FORMAT_VERSION:
            log.warning("ignoring fault episode state %s with an unknown format", self.path)
            return {}
        out: dict[str, list[OpenEpisode]] = {}
        devices = doc.get("devices")
        for device, items in devices.items() if isinstance(devices, dict) else []:
            for item in items if isinstance(items, list) else []:
                try:
                    out.setdefault(str(device), []).append(OpenEpisode.from_doc(item))
                except (KeyError, TypeError, ValueError) as exc:
                    log.warning(
                        "skipping a malformed episode of %s in %s: %s", device, self.path, exc
                    )
        return out
