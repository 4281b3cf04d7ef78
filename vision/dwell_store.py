"""Open candidates and violations on disk, so a restart neither re-alerts nor forgets.

One small JSON file per camera under the driver's state directory, replaced atomically
(write to a temporary file, fsync, rename, fsync the directory), so a power cut leaves
either the old or the new state, never half of one.

Monotonic clock values do not survive a reboot, so durations are stored instead
(accumulated dwell, attended time) with wall-clock stamps for reporting. On load every
candidate gets a fresh gap-tolerance window ("last seen" = now): the downtime is not
counted as dwell, and a bike that left while the agent was down is cleared after the gap
tolerance, with the same violation id it was announced under.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from agent.state_file import read_json, write_json
from vision.dwell import Candidate, Violation

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


def _candidate_doc(c: Candidate) -> dict[str, Any]:
    v = c.violation
    return {
        "id": c.id,
        "zone": c.zone_id,
        "anchor": list(c.anchor),
        "signature": list(c.signature) if c.signature is not None else None,
        "first_seen_wall": c.first_seen_wall.isoformat(),
        "last_seen_wall": c.last_seen_wall.isoformat(),
        "dwell_s": c.dwell_s,
        "attended_s": c.attended_s,
        "score": c.score,
        "last_label": c.last_label,
        "labels": c.labels,
        "violation": None
        if v is None
        else {
            "id": v.id,
            "started_wall": v.started_wall.isoformat(),
            "announced": v.announced,
            "reminders": v.reminders,
        },
    }


def _candidate_from(doc: dict[str, Any], now: float) -> Candidate:
    vdoc = doc.get("violation")
    violation = None
    if vdoc is not None:
        violation = Violation(
            id=str(vdoc["id"]),
            started_wall=datetime.fromisoformat(vdoc["started_wall"]),
            started_t=now,
            announced=bool(vdoc["announced"]),
            reminders=int(vdoc.get("reminders", 0)),
            last_reminder_t=now,
        )
    anchor = tuple(float(v) for v in doc["anchor"])
    if len(anchor) != 4:
        raise ValueError("anchor must have 4 numbers")
    sig = doc.get("signature")
    return Candidate(
        id=str(doc["id"]),
        zone_id=str(doc["zone"]),
        anchor=(anchor[0], anchor[1], anchor[2], anchor[3]),
        signature=tuple(float(x) for x in sig) if sig is not None else None,
        first_seen_wall=datetime.fromisoformat(doc["first_seen_wall"]),
        first_seen=now - float(doc["dwell_s"]),
        last_seen=now,
        last_step=now,
        last_seen_wall=datetime.fromisoformat(doc["last_seen_wall"]),
        dwell_s=float(doc["dwell_s"]),
        attended_s=float(doc.get("attended_s", 0.0)),
        score=float(doc.get("score", 0.0)),
        last_label=str(doc.get("last_label", "")),
        labels={str(k): int(n) for k, n in dict(doc.get("labels", {})).items()},
        violation=violation,
    )


class DwellStore:
    """Atomic JSON persistence of one camera's candidates."""

    def __init__(self, state_dir: Path, camera: str) -> None:
        self.path = Path(state_dir) / f"camera-{camera}.dwell.json"

    def save(
        self, candidates: list[Candidate], wall: datetime, *, camera_offline: bool = False
    ) -> None:
        doc = {
            "version": FORMAT_VERSION,
            "saved_at": wall.isoformat(),
            "candidates": [_candidate_doc(c) for c in candidates],
            # The offline alarm was sent and no recovery yet: after a restart the first
            # frame must still say "online", and a camera still dark must not alarm twice.
            "camera_offline": camera_offline,
        }
        write_json(self.path, doc)

    def load(self, now: float) -> list[Candidate]:
        """Candidates saved before, re-based on ``now``; [] if none or unreadable."""
        return self.load_state(now)[0]

    def load_state(self, now: float) -> tuple[list[Candidate], bool]:
        """(candidates re-based on ``now``, whether the camera was left reported offline).

        Nothing saved, or an unreadable file: no candidates, not offline.
        """
        try:
            doc = read_json(self.path)
        except ValueError as exc:
            # A corrupt file must not stop the camera; say so once and start clean.
            log.warning("ignoring unreadable dwell state %s: %s", self.path, exc)
            return [], False
        if doc is None:
            return [], False
        if not isinstance(doc, dict) or doc.get("version") != FORMAT_VERSION:
            log.warning("ignoring dwell state %s with unknown format", self.path)
            return [], False
        out: list[Candidate] = []
        for item in doc.get("candidates", []):
            try:
                out.append(_candidate_from(item, now))
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("skipping a malformed candidate in %s: %s", self.path, exc)
        return out, doc.get("camera_offline") is True
