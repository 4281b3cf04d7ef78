"""The parking dwell engine: detections in, explained decisions out (pure, injected time).

A *candidate* is a two-wheeler standing in a zone. It is remembered by where it stands
(its anchor box) and what it looks like (an optional appearance signature), not by a
tracker id, so its timer survives a person walking in front of it, missed detections,
lighting changes and the model flipping between "bicycle" and "motorcycle". The timer is
seconds of the injected clock (never frame counts); it pauses while a person stands with
the bike or the zone's schedule is off. After ``grace_s`` of unattended presence, and only
on a sample that actually sees the bike, the candidate becomes a violation. It is cleared
when the bike has not been seen for the zone's gap tolerance, or when its track is seen
moving away. Every transition is returned as a :class:`Decision` with a reason, so replay
can show why an alert was, or was not, raised.

No OpenCV, no onnxruntime, no I/O: the driver feeds it, ``dwell_store`` persists it.
"""

from __future__ import annotations

import enum
import math
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agent.events import uuid7
from vision.config import ZoneConfig
from vision.tracker import Track, Tracker, expand, inside_fraction, intersects, iou
from vision.types import PERSON, TWO_WHEELER, Box
from vision.zones import Zone, bottom_centre

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


def _area(b: Box) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def _area_ratio(a: Box, b: Box) -> float:
    """min/max of the two areas (1 = same size)."""
    big = max(_area(a), _area(b))
    return min(_area(a), _area(b)) / big if big > 0 else 0.0


def _fmt_s(v: float) -> str:
    return f"{v:.1f} s"


class DwellEngine:
    """Per-camera parked-candidate memory and violation lifecycle."""

    def __init__(
        self,
        camera: str,
        zones: Sequence[ZoneConfig],
        settings: EngineSettings | None = None,
    ) -> None:
        self.camera = camera
        self.settings = settings or EngineSettings()
        self.zones: dict[str, Zone] = {z.id: Zone(z) for z in zones}
        self.tracker = Tracker(max_age_s=self.settings.track_max_age_s)
        self.candidates: dict[str, Candidate] = {}
        # Candidates whose announced violation ended, until the driver has made the
        # cleared event durable: they stay in the saved state, so a crash in between
        # clears them again after the restart instead of never.
        self.ended: dict[str, Candidate] = {}
        self._ignored_tracks: set[int] = set()
        self.dirty = False  # set when something worth persisting changed

    # -- queries --------------------------------------------------------------------

    @property
    def has_open_candidates(self) -> bool:
        return bool(self.candidates)

    def open_violations(self) -> list[Candidate]:
        return [c for c in self.candidates.values() if c.violation is not None]

    def persistent(self) -> list[Candidate]:
        """What must survive a restart: open candidates and uncleared ended ones."""
        return [*self.candidates.values(), *self.ended.values()]

    def mark_cleared(self, candidate_id: str) -> None:
        """The driver made the violation-cleared event durable."""
        if self.ended.pop(candidate_id, None) is not None:
            self.dirty = True

    def mark_announced(self, candidate_id: str) -> None:
        """The driver made the violation-started event durable; don't send it again."""
        cand = self.candidates.get(candidate_id)
        if cand is not None and cand.violation is not None:
            cand.violation.announced = True
            self.dirty = True

    # -- the step -------------------------------------------------------------------

    def step(self, sample: Sample) -> list[Decision]:
        """Advance to ``sample.t`` with what was seen then; return the decisions made."""
        out: list[Decision] = []
        t, wall = sample.t, sample.wall
        vehicles = [o for o in sample.observations if o.label in VEHICLE_LABELS]
        people = [o for o in sample.observations if o.label == PERSON]
        vtracks = self.tracker.update(t, "vehicle", [o.box for o in vehicles])
        ptracks = self.tracker.update(t, "person", [o.box for o in people])
        active = {zid: z.active_at(wall) for zid, z in self.zones.items()}

        matched = self._match(vehicles, vtracks)
        for cid, (oi, whole) in matched.items():
            cand = self.candidates[cid]
            self._refresh(cand, vehicles[oi], vtracks[oi], whole, t, wall, out)
        # Before merging: a candidate merged away still "took" its observation.
        taken = {(self.candidates[cid].zone_id, oi) for cid, (oi, _w) in matched.items()}
        self._merge_duplicates(t, wall, out)
        self._drop_moved_away(matched, vtracks, t, wall, out)
        self._open_new(vehicles, vtracks, taken, active, t, wall, out)

        standing = [
            tr
            for tr in ptracks
            if tr.age_s >= self.settings.attend_after_s
            and not tr.is_moving(self.settings.motion_window_s, self.settings.moving_iou)
        ]
        for cand in list(self.candidates.values()):
            self._advance(cand, cand.id in matched, standing, active[cand.zone_id], t, wall, out)
        self._bound(t, wall, out)
        return out

    # -- matching -------------------------------------------------------------------

    def _match(
        self, vehicles: Sequence[Observation], tracks: Sequence[Track]
    ) -> dict[str, tuple[int, bool]]:
        """Candidate id -> (observation index, whole view); one observation per candidate.

        A whole view overlaps the anchor well (or moderately and looks the same). A box
        mostly inside the anchor is a partial view: the bike half-hidden behind someone. It
        proves the bike is still there but must not drag the anchor.
        """
        s = self.settings
        pairs: list[tuple[float, str, int, bool]] = []
        for cand in self.candidates.values():
            zone = self.zones[cand.zone_id]
            for oi, obs in enumerate(vehicles):
                overlap = iou(cand.anchor, obs.box)
                partial = inside_fraction(obs.box, cand.anchor) >= s.partial_inside
                if not partial and (overlap < s.weak_iou or not zone.stays(obs.box)):
                    continue
                looks = (
                    appearance_similarity(cand.signature, obs.signature)
                    if cand.signature is not None and obs.signature is not None
                    else None
                )
                similar = overlap >= s.match_iou or (
                    overlap >= s.weak_iou and looks is not None and looks >= s.appearance_min
                )
                # A box much smaller than the anchor is the visible part of an occluded bike:
                # it confirms presence but must not move the anchor (which would then drift
                # with the occluder and lose the bike when it reappears whole).
                whole = similar and _area_ratio(obs.box, cand.anchor) >= s.whole_area_ratio
                if similar or partial:
                    bonus = 0.5 if tracks[oi].id == cand.track_id else 0.0
                    rank = overlap + bonus + (1.0 if whole else 0.0)
                    pairs.append((rank, cand.id, oi, whole))
        pairs.sort(reverse=True)
        result: dict[str, tuple[int, bool]] = {}
        used: set[tuple[str, int]] = set()  # an observation serves one candidate per zone
        for _rank, cid, oi, whole in pairs:
            zone_id = self.candidates[cid].zone_id
            if cid in result or (zone_id, oi) in used:
                continue
            result[cid] = (oi, whole)
            used.add((zone_id, oi))
        return result

    def _refresh(
        self,
        cand: Candidate,
        obs: Observation,
        track: Track,
        whole: bool,
        t: float,
        wall: datetime,
        out: list[Decision],
    ) -> None:
        s = self.settings
        unseen = t - cand.last_seen
        if unseen >= s.rejoin_report_s:
            looks = (
                f", appearance {appearance_similarity(cand.signature, obs.signature):.2f}"
                if cand.signature is not None and obs.signature is not None
                else ""
            )
            out.append(
                self._decision(
                    DecisionKind.REJOINED,
                    t,
                    wall,
                    cand,
                    f"seen again after {_fmt_s(unseen)} unseen (IoU "
                    f"{iou(cand.anchor, obs.box):.2f}{looks}); timer kept at "
                    f"{_fmt_s(cand.dwell_s)}",
                    obs,
                )
            )
        if obs.source_class and cand.last_label and obs.source_class != cand.last_label:
            out.append(
                self._decision(
                    DecisionKind.LABEL_CHANGED,
                    t,
                    wall,
                    cand,
                    f"model now says {obs.source_class!r} (was {cand.last_label!r}); "
                    "same place, same candidate",
                    obs,
                )
            )
        if obs.source_class:
            cand.last_label = obs.source_class
            cand.labels[obs.source_class] = cand.labels.get(obs.source_class, 0) + 1
        cand.last_seen = t
        cand.last_seen_wall = wall
        if not whole:
            return
        a = s.anchor_alpha
        cand.anchor = tuple(  # type: ignore[assignment]
            (1 - a) * p + a * q for p, q in zip(cand.anchor, obs.box, strict=True)
        )
        if cand.signature is None and obs.signature is not None:
            cand.signature = obs.signature
        cand.track_id = track.id
        cand.score = obs.score

    def _merge_duplicates(self, t: float, wall: datetime, out: list[Decision]) -> None:
        """Two candidates in a zone that converged on one bike: keep the senior one.

        Senior = holds a violation, else was seen first; it inherits the junior's sightings.
        """
        cands = sorted(
            self.candidates.values(),
            key=lambda c: (c.violation is None, c.first_seen),
        )
        for i, senior in enumerate(cands):
            if senior.id not in self.candidates:
                continue
            for junior in cands[i + 1 :]:
                if junior.id not in self.candidates or junior.zone_id != senior.zone_id:
                    continue
                if iou(junior.anchor, senior.anchor) < self.settings.merge_iou:
                    continue
                if junior.violation is not None and junior.violation.announced:
                    # Its violation is known to the platform: end it properly (cleared),
                    # never drop it silently.
                    self._end(junior, t, wall, f"same bike as {senior.id}; merged into it", out)
                    continue
                if junior.last_seen > senior.last_seen:
                    senior.last_seen, senior.last_seen_wall = (
                        junior.last_seen,
                        junior.last_seen_wall,
                    )
                    senior.track_id = junior.track_id
                del self.candidates[junior.id]
                self.dirty = True
                out.append(
                    self._decision(
                        DecisionKind.DROPPED,
                        t,
                        wall,
                        junior,
                        f"same bike as {senior.id} (seen since earlier); merged into it",
                    )
                )

    def _drop_moved_away(
        self,
        matched: dict[str, tuple[int, bool]],
        tracks: Sequence[Track],
        t: float,
        wall: datetime,
        out: list[Decision],
    ) -> None:
        """A candidate whose own track is seen moving off its anchor has left: end it now."""
        s = self.settings
        by_id = {tr.id: tr for tr in tracks}
        for cand in list(self.candidates.values()):
            if cand.id in matched or cand.track_id not in by_id:
                continue
            track = by_id[cand.track_id]
            if iou(track.box, cand.anchor) < s.weak_iou and track.is_moving(
                s.motion_window_s, s.moving_iou
            ):
                self._end(cand, t, wall, "seen moving away from where it stood", out)

    def _open_new(
        self,
        vehicles: Sequence[Observation],
        tracks: Sequence[Track],
        taken: set[tuple[str, int]],
        active: dict[str, bool],
        t: float,
        wall: datetime,
        out: list[Decision],
    ) -> None:
        s = self.settings
        for oi, obs in enumerate(vehicles):
            track = tracks[oi]
            zones_in = [z for z in self.zones.values() if z.enters(obs.box)]
            if not zones_in:
                if not any((zid, oi) in taken for zid in self.zones):
                    self._ignore_once(
                        track,
                        t,
                        wall,
                        obs,
                        "bottom-centre ({:.2f}, {:.2f}) is outside every zone".format(
                            *bottom_centre(obs.box)
                        ),
                        out,
                    )
                continue
            for zone in zones_in:
                if (zone.id, oi) in taken:
                    continue
                near = [
                    c
                    for c in self.candidates.values()
                    if c.zone_id == zone.id
                    and (
                        iou(c.anchor, obs.box) >= s.block_iou
                        or inside_fraction(obs.box, c.anchor) >= s.partial_inside
                    )
                ]
                if near:
                    continue  # ambiguous overlap with a known bike: don't double count
                if track.is_moving(s.motion_window_s, s.moving_iou):
                    self._ignore_once(
                        track, t, wall, obs, f"moving through zone {zone.id} (not parked)", out
                    )
                    continue
                cand = Candidate(
                    id=f"{zone.id}-{secrets.token_hex(4)}",
                    zone_id=zone.id,
                    anchor=obs.box,
                    signature=obs.signature,
                    first_seen_wall=wall,
                    first_seen=t,
                    last_seen=t,
                    last_step=t,
                    last_seen_wall=wall,
                    active=active[zone.id],
                    track_id=track.id,
                    score=obs.score,
                    last_label=obs.source_class,
                    labels={obs.source_class: 1} if obs.source_class else {},
                )
                self.candidates[cand.id] = cand
                self.dirty = True
                zc = zone.config
                note = "" if cand.active else "; zone not enforced now (schedule)"
                out.append(
                    self._decision(
                        DecisionKind.OPENED,
                        t,
                        wall,
                        cand,
                        f"two-wheeler (score {obs.score:.2f}) stands in {zc.kind} zone "
                        f"{zc.id}; violation after {_fmt_s(zc.grace_s)} unattended{note}",
                        obs,
                    )
                )

    def _ignore_once(
        self,
        track: Track,
        t: float,
        wall: datetime,
        obs: Observation,
        reason: str,
        out: list[Decision],
    ) -> None:
        if track.id in self._ignored_tracks:
            return
        self._ignored_tracks.add(track.id)
        live = {tr.id for tr in self.tracker.tracks}
        self._ignored_tracks &= live
        out.append(
            Decision(DecisionKind.IGNORED, t, wall, None, None, f"track {track.id}: {reason}", obs)
        )

    # -- time -----------------------------------------------------------------------

    def _advance(
        self,
        cand: Candidate,
        seen_now: bool,
        standing: Sequence[Track],
        zone_active: bool,
        t: float,
        wall: datetime,
        out: list[Decision],
    ) -> None:
        zc = self.zones[cand.zone_id].config
        s = self.settings
        dt = max(0.0, t - cand.last_step)
        # The state that held since the last step decides where the interval goes.
        if cand.active and not cand.attended:
            cand.dwell_s += dt
        elif cand.attended:
            cand.attended_s += dt
        cand.last_step = t

        near = expand(cand.anchor, s.attend_margin, s.attend_margin / 2)
        seen_with_someone = any(intersects(tr.box, near) for tr in standing)
        if seen_with_someone:
            cand.attendant_seen = t
        last = cand.attendant_seen
        held = cand.attended and last is not None and t - last < s.attend_hold_s
        attended = seen_with_someone or held
        if attended != cand.attended:
            cand.attended = attended
            self.dirty = True
            if attended:
                out.append(
                    self._decision(
                        DecisionKind.ATTENDED,
                        t,
                        wall,
                        cand,
                        f"person standing with the bike: timer paused at {_fmt_s(cand.dwell_s)}",
                    )
                )
            else:
                out.append(
                    self._decision(
                        DecisionKind.UNATTENDED,
                        t,
                        wall,
                        cand,
                        f"nobody with the bike any more: timer resumes at {_fmt_s(cand.dwell_s)}",
                    )
                )
        if zone_active != cand.active:
            cand.active = zone_active
            self.dirty = True
            if not zone_active:
                if cand.violation is not None:
                    self._end(cand, t, wall, "zone schedule ended", out)
                    return
                out.append(
                    self._decision(
                        DecisionKind.ZONE_INACTIVE,
                        t,
                        wall,
                        cand,
                        f"zone schedule off: timer paused at {_fmt_s(cand.dwell_s)}",
                    )
                )
            else:
                out.append(
                    self._decision(DecisionKind.ZONE_ACTIVE, t, wall, cand, "zone schedule on")
                )

        unseen = t - cand.last_seen
        if unseen > zc.gap_tolerance_s:
            self._end(
                cand,
                t,
                wall,
                f"not seen for {_fmt_s(unseen)} (> gap tolerance {_fmt_s(zc.gap_tolerance_s)})",
                out,
            )
            return
        if not seen_now:
            return
        if cand.violation is None:
            if cand.active and not cand.attended and cand.dwell_s >= zc.grace_s:
                cand.violation = Violation(id=uuid7(), started_wall=wall, started_t=t)
                cand.violation.last_reminder_t = t
                self.dirty = True
        elif cand.violation.announced and zc.reminder_every_s > 0:
            v = cand.violation
            if t - v.last_reminder_t >= zc.reminder_every_s:
                v.reminders += 1
                v.last_reminder_t = t
                self.dirty = True
                out.append(
                    self._decision(
                        DecisionKind.REMINDER,
                        t,
                        wall,
                        cand,
                        f"still parked: {_fmt_s(cand.dwell_s)} unattended (reminder {v.reminders})",
                    )
                )
        if cand.violation is not None and not cand.violation.announced:
            # Repeated on every sighting until the driver confirms the event is durable.
            out.append(
                self._decision(
                    DecisionKind.VIOLATION_STARTED,
                    t,
                    wall,
                    cand,
                    f"parked {_fmt_s(cand.dwell_s)} unattended in {zc.kind} zone {zc.id} "
                    f"(grace {_fmt_s(zc.grace_s)})",
                )
            )

    def _end(
        self, cand: Candidate, t: float, wall: datetime, why: str, out: list[Decision]
    ) -> None:
        zc = self.zones[cand.zone_id].config
        del self.candidates[cand.id]
        self.dirty = True
        if cand.violation is not None and cand.violation.announced:
            self.ended[cand.id] = cand
            out.append(
                self._decision(
                    DecisionKind.CLEARED,
                    t,
                    wall,
                    cand,
                    f"{why}; was parked {_fmt_s(cand.dwell_s)} unattended",
                )
            )
            return
        if cand.violation is not None:
            why += "; its violation was never announced"
        elif cand.dwell_s < zc.grace_s:
            why += (
                f"; no violation: {_fmt_s(cand.dwell_s)} unattended is below the "
                f"{_fmt_s(zc.grace_s)} grace"
            )
            if cand.attended_s > 0:
                why += f" (attended {_fmt_s(cand.attended_s)})"
        else:
            why += "; no violation: grace was reached but never confirmed by a sighting"
        out.append(self._decision(DecisionKind.DROPPED, t, wall, cand, why))

    def _bound(self, t: float, wall: datetime, out: list[Decision]) -> None:
        excess = len(self.candidates) - self.settings.max_candidates
        if excess <= 0:
            return
        pending = sorted(
            (c for c in self.candidates.values() if c.violation is None),
            key=lambda c: c.last_seen,
        )
        for cand in pending[:excess]:
            self._end(cand, t, wall, "candidate memory full; least recently seen dropped", out)

    def _decision(
        self,
        kind: DecisionKind,
        t: float,
        wall: datetime,
        cand: Candidate,
        reason: str,
        obs: Observation | None = None,
    ) -> Decision:
        zc = self.zones[cand.zone_id].config
        return Decision(kind, t, wall, cand.zone_id, cand.id, reason, obs, facts(cand, zc))

    # -- restart --------------------------------------------------------------------

    def rebase(self, now: float) -> None:
        """Resume after a blind spell (camera offline): what happened meanwhile is unknown.

        The blind time is not counted as dwell, and every candidate gets a fresh gap
        tolerance to be seen again, exactly as after a restart. Without this, a camera back
        from a ten-minute outage would clear every violation and re-raise it after grace.
        """
        for cand in self.candidates.values():
            cand.last_step = now
            cand.last_seen = max(cand.last_seen, now)

    def restore(self, candidates: Iterable[Candidate]) -> None:
        """Adopt candidates loaded after a restart (their clocks already re-based)."""
        for cand in candidates:
            if cand.zone_id in self.zones:
                self.candidates[cand.id] = cand


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
    }
