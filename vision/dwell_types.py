"""The dwell engine's value types: settings, what it is fed, what it remembers, what it says.

Plain dataclasses (no logic beyond formatting) so the engine, its store, the replay tool and
the camera driver share one vocabulary without importing the engine itself.
"""

from __future__ import annotations

import enum
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vision.config import ZoneConfig
from vision.types import TWO_WHEELER, Box

# Labels that count as a two-wheeler. The default model merges bicycle and motorcycle into
# TWO_WHEELER; a custom model may keep its own names, and a flip between them is harmless
# because matching never looks at the label.
VEHICLE_LABELS = frozenset({TWO_WHEELER, "bicycle", "motorcycle", "ebike", "e-bike", "scooter"})


@dataclass(frozen=True)
class EngineSettings:
    """Matching and attendance thresholds (see shared/research/anchors-vision.md §4-5)."""

    match_iou: float = 0.4  # anchor IoU that re-attaches a sighting to a candidate
    weak_iou: float = 0.2  # lower IoU accepted when the appearance also matches
    appearance_min: float = 0.8  # NCC of signatures for a weak-IoU match
    block_iou: float = 0.3  # no second candidate this close to an existing one in a zone
    partial_inside: float = 0.7  # a box this much inside an anchor is a part of that bike
    whole_area_ratio: float = 0.75  # a smaller/larger box than the anchor is a partial view
    merge_iou: float = 0.6  # two candidates in one zone this alike are the same bike
    anchor_alpha: float = 0.2  # anchor follows matched boxes slowly (jitter, not walking)
    motion_window_s: float = 2.0  # a track is moving if its box moved within this window
    moving_iou: float = 0.5  # ... i.e. overlaps its earlier self by less than this
    attend_after_s: float = 2.0  # a person must linger this long to count as attending
    attend_margin: float = 0.25  # bike box grown by this (of its width) to find attendants
    # An attendant missed by the detector for a sample or two (or whose track restarts
    # when they crouch) is still there: attendance ends only after this long unseen.
    attend_hold_s: float = 4.0
    rejoin_report_s: float = 5.0  # report a re-sighting after this long unseen
    track_max_age_s: float = 6.0  # tracker memory; > 2 sampling intervals under load
    max_candidates: int = 64  # bound on memory; the oldest pending candidate goes first


@dataclass(frozen=True)
class Observation:
    """One detection as the engine sees it: box normalised to the frame (0..1)."""

    label: str
    score: float
    box: Box
    source_class: str = ""
    signature: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Sample:
    """Everything detected at one instant. ``t`` is monotonic seconds (or clip time)."""

    t: float
    wall: datetime
    observations: Sequence[Observation]


class DecisionKind(enum.StrEnum):
    OPENED = "candidate.opened"
    REJOINED = "candidate.rejoined"
    LABEL_CHANGED = "candidate.label_changed"
    ATTENDED = "candidate.attended"
    UNATTENDED = "candidate.unattended"
    ZONE_INACTIVE = "candidate.zone_inactive"
    ZONE_ACTIVE = "candidate.zone_active"
    DROPPED = "candidate.dropped"
    IGNORED = "detection.ignored"
    VIOLATION_STARTED = "violation.started"
    REMINDER = "violation.reminder"
    CLEARED = "violation.cleared"


@dataclass(frozen=True)
class Decision:
    kind: DecisionKind
    t: float
    wall: datetime
    zone: str | None
    candidate: str | None
    reason: str
    observation: Observation | None = None
    facts: dict[str, Any] = field(default_factory=dict)  # the candidate at that moment


@dataclass
class Violation:
    id: str  # also the id of the violation-started event: re-sending it is idempotent
    started_wall: datetime
    started_t: float
    announced: bool = False
    reminders: int = 0
    last_reminder_t: float = 0.0


@dataclass
class Candidate:
    id: str
    zone_id: str
    anchor: Box
    signature: tuple[float, ...] | None
    first_seen_wall: datetime
    first_seen: float
    last_seen: float
    last_step: float
    last_seen_wall: datetime
    dwell_s: float = 0.0
    attended_s: float = 0.0
    attended: bool = False
    attendant_seen: float | None = None  # last time someone stood with it (monotonic)
    active: bool = True
    track_id: int | None = None
    score: float = 0.0
    last_label: str = ""
    labels: dict[str, int] = field(default_factory=dict)
    violation: Violation | None = None


def appearance_similarity(a: Sequence[float], b: Sequence[float]) -> float:
    """Normalised cross-correlation of two signatures (-1..1); 0 if unusable."""
    if len(a) != len(b) or not a:
        return 0.0
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    da = [x - ma for x in a]
    db = [y - mb for y in b]
    num = sum(x * y for x, y in zip(da, db, strict=True))
    den = math.sqrt(sum(x * x for x in da) * sum(y * y for y in db))
    return num / den if den > 0 else 0.0


def fmt_s(v: float) -> str:
    return f"{v:.1f} s"


def facts(cand: Candidate, zone: ZoneConfig) -> dict[str, Any]:
    """What is known about a candidate, JSON-ready (event data and replay output)."""
    v = cand.violation
    return {
        "candidate": cand.id,
        "zone": zone.id,
        "zone_kind": zone.kind,
        "violation_id": v.id if v else None,
        "violation_started": v.started_wall.isoformat() if v else None,
        "first_seen": cand.first_seen_wall.isoformat(),
        "last_seen": cand.last_seen_wall.isoformat(),
        "dwell_s": round(cand.dwell_s, 1),
        "attended_s": round(cand.attended_s, 1),
        "grace_s": zone.grace_s,
        "gap_tolerance_s": zone.gap_tolerance_s,
        "box": [round(v, 4) for v in cand.anchor],
        "score": round(cand.score, 3),
        "model_labels": dict(cand.labels),
        "attended": cand.attended,
        **({"elevator": zone.elevator} if zone.elevator else {}),
    }


def new_candidate(
    zone_id: str, obs: Observation, track_id: int, t: float, wall: datetime, active: bool
) -> Candidate:
    """A candidate first seen now as ``obs`` (its anchor is that box)."""
    return Candidate(
        id=f"{zone_id}-{secrets.token_hex(4)}",
        zone_id=zone_id,
        anchor=obs.box,
        signature=obs.signature,
        first_seen_wall=wall,
        first_seen=t,
        last_seen=t,
        last_step=t,
        last_seen_wall=wall,
        active=active,
        track_id=track_id,
        score=obs.score,
        last_label=obs.source_class,
        labels={obs.source_class: 1} if obs.source_class else {},
    )


def drop_reason(cand: Candidate, zone: ZoneConfig, why: str) -> str:
    """``why`` a candidate without an announced violation ended, and why no violation."""
    if cand.violation is not None:
        return why + "; its violation was never announced"
    if cand.dwell_s >= zone.grace_s:
        return why + "; no violation: grace was reached but never confirmed by a sighting"
    why += (
        f"; no violation: {fmt_s(cand.dwell_s)} unattended is below the {fmt_s(zone.grace_s)} grace"
    )
    if cand.attended_s > 0:
        why += f" (attended {fmt_s(cand.attended_s)})"
    return why
