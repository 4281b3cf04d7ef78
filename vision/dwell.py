"""The parking dwell engine: detections in, explained decisions out (pure, injected time).

A *candidate* is a two-wheeler standing in a zone. It is remembered by where it stands
(its anchor box) and what it looks like (an optional appearance signature), not by a
tracker id, so its timer survives a person walking in front of it, missed detections,
lighting changes and "bicycle"/"motorcycle" flips. The timer is seconds of the injected
clock; it pauses while a person stands with the bike or the zone's schedule is off. After
``grace_s`` unattended, on a sample that sees the bike, the candidate becomes a violation,
cleared when the bike is unseen for the gap tolerance or its track moves away. Every
transition is a :class:`Decision` with a reason, so replay shows why an alert was raised.

Types: ``vision.dwell_types``, matching: ``vision.dwell_match``; one :class:`_Step` holds
what a step knows. In an ``elevator_car`` zone attendance never pauses the timer. No OpenCV,
onnxruntime or I/O: the driver feeds it (and may :meth:`DwellEngine.reject` a violation a
second look did not confirm), ``dwell_store`` persists it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from agent.events import uuid7
from vision.config import ZoneConfig
from vision.dwell_match import Match, match
from vision.dwell_types import (
    VEHICLE_LABELS,
    Candidate,
    Decision,
    DecisionKind,
    EngineSettings,
    Observation,
    Sample,
    Violation,
    appearance_similarity,
    drop_reason,
    facts,
    fmt_s,
    new_candidate,
)
from vision.geometry import bottom_centre, expand, inside_fraction, intersects, iou
from vision.tracker import Track, Tracker
from vision.types import PERSON
from vision.zones import Zone

__all__ = [
    "VEHICLE_LABELS",
    "Candidate",
    "Decision",
    "DecisionKind",
    "DwellEngine",
    "EngineSettings",
    "Observation",
    "Sample",
    "Violation",
    "appearance_similarity",
    "facts",
]


Obs = Observation | None


@dataclass
class _Step:
    """What one call of :meth:`DwellEngine.step` knows, shared by its phases."""

    t: float
    wall: datetime
    active: dict[str, bool]  # zone id -> enforced now (schedule)
    vehicles: Sequence[Observation]
    vtracks: Sequence[Track]
    standing: list[Track] = field(default_factory=list)  # people lingering, not walking
    matched: dict[str, Match] = field(default_factory=dict)
    taken: set[tuple[str, int]] = field(default_factory=set)  # (zone, observation) used
    out: list[Decision] = field(default_factory=list)


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

    def reject(self, candidate_id: str, t: float, wall: datetime, why: str) -> list[Decision]:
        """Drop a candidate whose violation a second look did not confirm (not announced)."""
        cand = self.candidates.get(candidate_id)
        st = _Step(t, wall, {}, (), ())
        if cand is not None and (cand.violation is None or not cand.violation.announced):
            self._end(st, cand, why)
        return st.out

    def mark_announced(self, candidate_id: str) -> None:
        """The driver made the violation-started event durable; don't send it again."""
        cand = self.candidates.get(candidate_id)
        if cand is not None and cand.violation is not None:
            cand.violation.announced = True
            self.dirty = True

    # -- the step -------------------------------------------------------------------

    def step(self, sample: Sample) -> list[Decision]:
        """Advance to ``sample.t`` with what was seen then; return the decisions made."""
        s = self.settings
        t, wall = sample.t, sample.wall
        vehicles = [o for o in sample.observations if o.label in VEHICLE_LABELS]
        people = [o for o in sample.observations if o.label == PERSON]
        vtracks = self.tracker.update(t, "vehicle", [o.box for o in vehicles])
        ptracks = self.tracker.update(t, "person", [o.box for o in people])
        active = {zid: z.active_at(wall) for zid, z in self.zones.items()}
        st = _Step(t, wall, active, vehicles, vtracks)

        st.matched = match(s, self.candidates, self.zones, vehicles, vtracks)
        for cid, (oi, whole) in st.matched.items():
            self._refresh(st, self.candidates[cid], oi, whole)
        # Before merging: a candidate merged away still "took" its observation.
        st.taken = {(self.candidates[cid].zone_id, oi) for cid, (oi, _w) in st.matched.items()}
        self._merge_duplicates(st)
        self._drop_moved_away(st)
        for oi in range(len(vehicles)):
            self._open_new(st, oi)

        st.standing = [
            tr
            for tr in ptracks
            if tr.age_s >= s.attend_after_s and not tr.is_moving(s.motion_window_s, s.moving_iou)
        ]
        for cand in list(self.candidates.values()):
            self._advance(st, cand)
        self._bound(st)
        return st.out

    def _refresh(self, st: _Step, cand: Candidate, oi: int, whole: bool) -> None:
        s = self.settings
        obs = st.vehicles[oi]
        unseen = st.t - cand.last_seen
        if unseen >= s.rejoin_report_s:
            looks = (
                f", appearance {appearance_similarity(cand.signature, obs.signature):.2f}"
                if cand.signature is not None and obs.signature is not None
                else ""
            )
            self._say(
                st,
                DecisionKind.REJOINED,
                cand,
                f"seen again after {fmt_s(unseen)} unseen (IoU "
                f"{iou(cand.anchor, obs.box):.2f}{looks}); timer kept at {fmt_s(cand.dwell_s)}",
                obs,
            )
        if obs.source_class and cand.last_label and obs.source_class != cand.last_label:
            self._say(
                st,
                DecisionKind.LABEL_CHANGED,
                cand,
                f"model now says {obs.source_class!r} (was {cand.last_label!r}); "
                "same place, same candidate",
                obs,
            )
        if obs.source_class:
            cand.last_label = obs.source_class
            cand.labels[obs.source_class] = cand.labels.get(obs.source_class, 0) + 1
        cand.last_seen = st.t
        cand.last_seen_wall = st.wall
        if not whole:
            return
        a = s.anchor_alpha
        cand.anchor = tuple(  # type: ignore[assignment]
            (1 - a) * p + a * q for p, q in zip(cand.anchor, obs.box, strict=True)
        )
        if cand.signature is None and obs.signature is not None:
            cand.signature = obs.signature
        cand.track_id = st.vtracks[oi].id
        cand.score = obs.score

    def _merge_duplicates(self, st: _Step) -> None:
        """Two candidates in a zone that converged on one bike: keep the senior one.

        Senior = holds a violation, else was seen first; it inherits the junior's sightings.
        """
        cands = sorted(self.candidates.values(), key=lambda c: (c.violation is None, c.first_seen))
        for i, senior in enumerate(cands):
            if senior.id not in self.candidates:
                continue
            for junior in cands[i + 1 :]:
                if junior.id not in self.candidates or junior.zone_id != senior.zone_id:
                    continue
                if iou(junior.anchor, senior.anchor) >= self.settings.merge_iou:
                    self._merge(st, senior, junior)

    def _merge(self, st: _Step, senior: Candidate, junior: Candidate) -> None:
        if junior.violation is not None and junior.violation.announced:
            # Its violation is known to the platform: end it properly (cleared), never
            # drop it silently.
            self._end(st, junior, f"same bike as {senior.id}; merged into it")
            return
        if junior.last_seen > senior.last_seen:
            senior.last_seen, senior.last_seen_wall = junior.last_seen, junior.last_seen_wall
            senior.track_id = junior.track_id
        del self.candidates[junior.id]
        self.dirty = True
        self._say(
            st,
            DecisionKind.DROPPED,
            junior,
            f"same bike as {senior.id} (seen since earlier); merged into it",
        )

    def _drop_moved_away(self, st: _Step) -> None:
        """A candidate whose own track is seen moving off its anchor has left: end it now."""
        s = self.settings
        by_id = {tr.id: tr for tr in st.vtracks}
        for cand in list(self.candidates.values()):
            if cand.id in st.matched or cand.track_id not in by_id:
                continue
            track = by_id[cand.track_id]
            if iou(track.box, cand.anchor) < s.weak_iou and track.is_moving(
                s.motion_window_s, s.moving_iou
            ):
                self._end(st, cand, "seen moving away from where it stood")

    def _open_new(self, st: _Step, oi: int) -> None:
        """Open a candidate for sighting ``oi`` in each zone it enters and nobody claims."""
        s = self.settings
        obs, track = st.vehicles[oi], st.vtracks[oi]
        zones_in = [z for z in self.zones.values() if z.enters(obs.box)]
        if not zones_in:
            if not any((zid, oi) in st.taken for zid in self.zones):
                where = "({:.2f}, {:.2f})".format(*bottom_centre(obs.box))
                self._ignore_once(st, track, obs, f"bottom-centre {where} is outside every zone")
            return
        for zone in zones_in:
            if (zone.id, oi) in st.taken or self._near_known(zone.id, obs):
                continue  # ambiguous overlap with a known bike: don't double count
            if track.is_moving(s.motion_window_s, s.moving_iou):
                self._ignore_once(st, track, obs, f"moving through zone {zone.id} (not parked)")
                continue
            self._open(st, zone, obs, track)

    def _near_known(self, zone_id: str, obs: Observation) -> bool:
        s = self.settings
        return any(
            c.zone_id == zone_id
            and (
                iou(c.anchor, obs.box) >= s.block_iou
                or inside_fraction(obs.box, c.anchor) >= s.partial_inside
            )
            for c in self.candidates.values()
        )

    def _open(self, st: _Step, zone: Zone, obs: Observation, track: Track) -> None:
        cand = new_candidate(zone.id, obs, track.id, st.t, st.wall, st.active[zone.id])
        self.candidates[cand.id] = cand
        self.dirty = True
        zc = zone.config
        note = "" if cand.active else "; zone not enforced now (schedule)"
        self._say(
            st,
            DecisionKind.OPENED,
            cand,
            f"two-wheeler (score {obs.score:.2f}) stands in {zc.kind} zone "
            f"{zc.id}; violation after {fmt_s(zc.grace_s)} unattended{note}",
            obs,
        )

    def _ignore_once(self, st: _Step, track: Track, obs: Observation, reason: str) -> None:
        if track.id in self._ignored_tracks:
            return
        self._ignored_tracks.add(track.id)
        live = {tr.id for tr in self.tracker.tracks}
        self._ignored_tracks &= live
        st.out.append(
            Decision(
                DecisionKind.IGNORED, st.t, st.wall, None, None, f"track {track.id}: {reason}", obs
            )
        )

    # -- time -----------------------------------------------------------------------

    def _advance(self, st: _Step, cand: Candidate) -> None:
        """Credit the interval since the last step, then apply this step's changes."""
        dt = max(0.0, st.t - cand.last_step)
        # The state that held since the last step decides where the interval goes.
        if cand.active and not cand.attended:
            cand.dwell_s += dt
        elif cand.attended:
            cand.attended_s += dt
        cand.last_step = st.t
        self._update_attendance(st, cand)
        if not self._update_schedule(st, cand) or not self._within_gap(st, cand):
            return
        if cand.id in st.matched:
            self._update_violation(st, cand)

    def _update_attendance(self, st: _Step, cand: Candidate) -> None:
        if not self.zones[cand.zone_id].config.attendance_pauses:
            return  # elevator car: the rider beside the bike is the offence
        s = self.settings
        near = expand(cand.anchor, s.attend_margin, s.attend_margin / 2)
        seen_with_someone = any(intersects(tr.box, near) for tr in st.standing)
        if seen_with_someone:
            cand.attendant_seen = st.t
        last = cand.attendant_seen
        held = cand.attended and last is not None and st.t - last < s.attend_hold_s
        attended = seen_with_someone or held
        if attended == cand.attended:
            return
        cand.attended = attended
        self.dirty = True
        if attended:
            why = f"person standing with the bike: timer paused at {fmt_s(cand.dwell_s)}"
            self._say(st, DecisionKind.ATTENDED, cand, why)
        else:
            why = f"nobody with the bike any more: timer resumes at {fmt_s(cand.dwell_s)}"
            self._say(st, DecisionKind.UNATTENDED, cand, why)

    def _update_schedule(self, st: _Step, cand: Candidate) -> bool:
        """Follow the zone's schedule; False if that ended the candidate."""
        zone_active = st.active[cand.zone_id]
        if zone_active == cand.active:
            return True
        cand.active = zone_active
        self.dirty = True
        if zone_active:
            self._say(st, DecisionKind.ZONE_ACTIVE, cand, "zone schedule on")
            return True
        if cand.violation is not None:
            self._end(st, cand, "zone schedule ended")
            return False
        why = f"zone schedule off: timer paused at {fmt_s(cand.dwell_s)}"
        self._say(st, DecisionKind.ZONE_INACTIVE, cand, why)
        return True

    def _within_gap(self, st: _Step, cand: Candidate) -> bool:
        """False (and the candidate ended) once it has been unseen past the gap tolerance."""
        tolerance = self.zones[cand.zone_id].config.gap_tolerance_s
        unseen = st.t - cand.last_seen
        if unseen <= tolerance:
            return True
        self._end(st, cand, f"not seen for {fmt_s(unseen)} (> gap tolerance {fmt_s(tolerance)})")
        return False

    def _update_violation(self, st: _Step, cand: Candidate) -> None:
        """On a sighting: start the violation after grace, remind, or repeat the start."""
        zc = self.zones[cand.zone_id].config
        v = cand.violation
        if v is None:
            if cand.active and not cand.attended and cand.dwell_s >= zc.grace_s:
                cand.violation = Violation(id=uuid7(), started_wall=st.wall, started_t=st.t)
                cand.violation.last_reminder_t = st.t
                self.dirty = True
        elif (
            v.announced
            and zc.reminder_every_s > 0
            and (st.t - v.last_reminder_t >= zc.reminder_every_s)
        ):
            v.reminders += 1
            v.last_reminder_t = st.t
            self.dirty = True
            why = f"still parked: {fmt_s(cand.dwell_s)} unattended (reminder {v.reminders})"
            self._say(st, DecisionKind.REMINDER, cand, why)
        if cand.violation is not None and not cand.violation.announced:
            # Repeated on every sighting until the driver confirms the event is durable.
            self._say(
                st,
                DecisionKind.VIOLATION_STARTED,
                cand,
                f"parked {fmt_s(cand.dwell_s)} unattended in {zc.kind} zone {zc.id} "
                f"(grace {fmt_s(zc.grace_s)})",
            )

    def _end(self, st: _Step, cand: Candidate, why: str) -> None:
        zc = self.zones[cand.zone_id].config
        del self.candidates[cand.id]
        self.dirty = True
        if cand.violation is not None and cand.violation.announced:
            self.ended[cand.id] = cand
            why = f"{why}; was parked {fmt_s(cand.dwell_s)} unattended"
            self._say(st, DecisionKind.CLEARED, cand, why)
            return
        self._say(st, DecisionKind.DROPPED, cand, drop_reason(cand, zc, why))

    def _bound(self, st: _Step) -> None:
        if (excess := len(self.candidates) - self.settings.max_candidates) <= 0:
            return
        pending = sorted(
            (c for c in self.candidates.values() if c.violation is None),
            key=lambda c: c.last_seen,
        )
        for cand in pending[:excess]:
            self._end(st, cand, "candidate memory full; least recently seen dropped")

    def _say(
        self, st: _Step, kind: DecisionKind, cand: Candidate, reason: str, obs: Obs = None
    ) -> None:
        zc = self.zones[cand.zone_id].config
        st.out.append(
            Decision(kind, st.t, st.wall, cand.zone_id, cand.id, reason, obs, facts(cand, zc))
        )

    # -- restart --------------------------------------------------------------------

    def rebase(self, now: float) -> None:
        """Resume after a blind spell (camera offline): the blind time is not dwell, and every
        candidate gets a fresh gap tolerance, as after a restart (else a camera back from a
        ten-minute outage would clear every violation and re-raise it after grace)."""
        for cand in self.candidates.values():
            cand.last_step = now
            cand.last_seen = max(cand.last_seen, now)

    def restore(self, candidates: Iterable[Candidate]) -> None:
        """Adopt candidates loaded after a restart (their clocks already re-based)."""
        for cand in candidates:
            if cand.zone_id in self.zones:
                self.candidates[cand.id] = cand
