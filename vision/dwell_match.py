"""Which sighting belongs to which parked candidate (pure; used by the dwell engine).

A candidate is remembered by where it stands and what it looks like, never by tracker id
alone, so this is where "the same bike" is decided: a whole view overlaps the anchor well
(or moderately and looks the same); a box mostly inside the anchor is a partial view of a
bike half-hidden behind someone. See shared/research/anchors-vision.md §4.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from vision.dwell_types import Candidate, EngineSettings, Observation, appearance_similarity
from vision.geometry import area_ratio, inside_fraction, iou
from vision.tracker import Track
from vision.zones import Zone

Match = tuple[int, bool]  # (observation index, whole view)


def _rank(
    s: EngineSettings, cand: Candidate, zone: Zone, obs: Observation, track: Track
) -> tuple[float, bool] | None:
    """Rank of pairing ``obs`` with ``cand`` (higher is better) and whether it is whole."""
    overlap = iou(cand.anchor, obs.box)
    partial = inside_fraction(obs.box, cand.anchor) >= s.partial_inside
    if not partial and (overlap < s.weak_iou or not zone.stays(obs.box)):
        return None
    looks = (
        appearance_similarity(cand.signature, obs.signature)
        if cand.signature is not None and obs.signature is not None
        else None
    )
    similar = overlap >= s.match_iou or (
        overlap >= s.weak_iou and looks is not None and looks >= s.appearance_min
    )
    if not (similar or partial):
        return None
    # A box much smaller than the anchor is the visible part of an occluded bike: it
    # confirms presence but must not move the anchor (which would then drift with the
    # occluder and lose the bike when it reappears whole).
    whole = similar and area_ratio(obs.box, cand.anchor) >= s.whole_area_ratio
    bonus = 0.5 if track.id == cand.track_id else 0.0
    return overlap + bonus + (1.0 if whole else 0.0), whole


def match(
    s: EngineSettings,
    candidates: Mapping[str, Candidate],
    zones: Mapping[str, Zone],
    vehicles: Sequence[Observation],
    tracks: Sequence[Track],
) -> dict[str, Match]:
    """Candidate id -> (observation index, whole view); one observation per candidate.

    A partial view proves the bike is still there but must not drag the anchor.
    """
    pairs: list[tuple[float, str, int, bool]] = []
    for cand in candidates.values():
        zone = zones[cand.zone_id]
        for oi, obs in enumerate(vehicles):
            ranked = _rank(s, cand, zone, obs, tracks[oi])
            if ranked is not None:
                pairs.append((ranked[0], cand.id, oi, ranked[1]))
    pairs.sort(reverse=True)
    result: dict[str, Match] = {}
    used: set[tuple[str, int]] = set()  # an observation serves one candidate per zone
    for _rank_value, cid, oi, whole in pairs:
        zone_id = candidates[cid].zone_id
        if cid in result or (zone_id, oi) in used:
            continue
        result[cid] = (oi, whole)
        used.add((zone_id, oi))
    return result
