"""Which lifts of one bus were last reported offline, on disk across restarts.

The platform learns that a lift is unwatched from one ``elevator.health offline`` alarm
(key ``COMM_LOST``) and that it is watched again from one ``online`` event, both sharing
an ``episode`` id (docs/modbus.md "Communication loss"). The driver object does not live
long enough to keep that state: a dead bus makes it raise ``DriverError`` and the
supervisor builds a new one, and an agent restart loses everything in memory. Without
this file a restarted driver would raise a second offline alarm for a lift already
reported, and a lift that answers again after the restart would never be announced
online (issue 11 finding 2). The camera driver keeps its offline flag the same way
(vision/dwell_store.py).

One JSON file per Modbus driver, ``modbus-<driver>.comm.json`` (agent/state_file.py:
atomic, durable), written after the event it reflects is in the outbox: a crash in
between repeats that event (the platform de-duplicates by key and episode), it never
loses one. ``bus_down_since`` (wall clock) is when the bus itself was first found
unusable. It is read only after an agent restart, where no monotonic reference survives;
within one process the hold runs on the monotonic clock (drivers/modbus/bus_down.py), so
a wall-clock step cannot move the per-lift alarms.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.state_file import read_json, write_json

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Offline:
    """A lift reported offline and not yet back: its episode id and why it went."""

    episode: str
    reason: str


@dataclass
class CommState:
    offline: dict[str, Offline] = field(default_factory=dict)
    bus_down_since: float | None = None

    def to_doc(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "bus_down_since": self.bus_down_since,
            "offline": {
                dev: {"episode": o.episode, "reason": o.reason}
                for dev, o in sorted(self.offline.items())
            },
        }


def _parse(doc: Any, path: Path) -> CommState:
    if not isinstance(doc, dict) or doc.get("version") != FORMAT_VERSION:
        log.warning("ignoring communication state %s with an unknown format", path)
        return CommState()
    state = CommState()
    since = doc.get("bus_down_since")
    if isinstance(since, int | float) and not isinstance(since, bool):
        state.bus_down_since = float(since)
    offline = doc.get("offline")
    for dev, item in offline.items() if isinstance(offline, dict) else []:
        episode = item.get("episode") if isinstance(item, dict) else None
        reason = item.get("reason") if isinstance(item, dict) else None
        if isinstance(episode, str) and episode and isinstance(reason, str):
            state.offline[str(dev)] = Offline(episode, reason)
        else:
            log.warning("skipping a malformed offline entry of %s in %s", dev, path)
    return state


class CommStore:
    """Load and save one driver's :class:`CommState`."""

    def __init__(self, state_dir: Path, driver_name: str) -> None:
        self.path = Path(state_dir) / f"modbus-{driver_name}.comm.json"

    def load(self) -> CommState:
        """What was saved; an empty state if nothing was or the file is unreadable (logged)."""
        try:
            doc = read_json(self.path)
        except ValueError as exc:
            # A damaged file must not stop the driver: say so once and start clean.
            log.warning("ignoring unreadable communication state: %s", exc)
            return CommState()
        return CommState() if doc is None else _parse(doc, self.path)

    def save(self, state: CommState) -> None:
        """Blocking (fsync): run it in a worker thread."""
        write_json(self.path, state.to_doc())
