"""A small class-agnostic IoU tracker with time-based ageing (pure Python).

It only links detections from one sample to the next so the dwell engine can tell a
moving object (ridden bike, walking person) from a stationary one. Tracks of different
groups ("vehicle", "person") never match each other, but inside a group the model's label
is ignored: a bicycle that the model calls a motorcycle in the next frame is the same track.
Ages are in seconds of the injected clock, never in frame counts.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from vision.types import Box

# How far back a track remembers its boxes; enough for the motion window.
_HISTORY_S = 10.0


def iou(a: Box, b: Box) -> float:
    ix1, iy1 = max(a[0], b[0]), max(a[1], b[1])
    ix2, iy2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, ix2 - ix1) * max(0.0, iy2 - iy1)
    if inter <= 0:
        return 0.0
    area_a = max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1])
    area_b = max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])
    union = area_a + area_b - inter
    return inter / union if union > 0 else 0.0


def inside_fraction(inner: Box, outer: Box) -> float:
    """Share of ``inner``'s area that lies inside ``outer`` (0..1)."""
    ix1, iy1 = max(inner[0], outer[0]), max(inner[1], outer[1])
    ix2, iy2 = min(inner[2], outer[2]), min(inner[3], outer[3])
    inter = max(0.0, ix2 - ix1) * max(0.0, iy2 - iy1)
    area = max(0.0, inner[2] - inner[0]) * max(0.0, inner[3] - inner[1])
    return inter / area if area > 0 else 0.0


def intersects(a: Box, b: Box) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def expand(box: Box, fx: float, fy: float) -> Box:
    """Grow ``box`` by ``fx`` of its width on each side and ``fy`` of its height."""
    w, h = box[2] - box[0], box[3] - box[1]
    return (box[0] - fx * w, box[1] - fy * h, box[2] + fx * w, box[3] + fy * h)


@dataclass
class Track:
    id: int
    group: str
    box: Box
    first_seen: float
    last_seen: float
    history: deque[tuple[float, Box]] = field(default_factory=deque)

    @property
    def age_s(self) -> float:
        return self.last_seen - self.first_seen

    def box_at_or_before(self, t: float) -> Box | None:
        """The latest remembered box observed at or before ``t`` (None if none that old)."""
        found: Box | None = None
        for ts, box in self.history:
            if ts <= t:
                found = box
            else:
                break
        return found

    def is_moving(self, window_s: float, min_iou: float) -> bool:
        """Moved if the box now overlaps its box ``window_s`` ago (or the oldest) by < min_iou.

        A track seen once has no motion evidence and counts as stationary, so a bike that
        was already parked when the agent started is taken at once.
        """
        if len(self.history) < 2:
            return False
        past = self.box_at_or_before(self.last_seen - window_s) or self.history[0][1]
        return iou(past, self.box) < min_iou


class Tracker:
    """Greedy IoU association per group; tracks unseen for ``max_age_s`` are dropped."""

    def __init__(self, *, match_iou: float = 0.3, max_age_s: float = 3.0) -> None:
        self.match_iou = match_iou
        self.max_age_s = max_age_s
        self._tracks: dict[int, Track] = {}
        self._next_id = 1

    @property
    def tracks(self) -> list[Track]:
        return list(self._tracks.values())

    def update(self, now: float, group: str, boxes: Sequence[Box]) -> list[Track]:
        """Associate ``boxes`` (one sample of one group); returns their tracks, in order."""
        candidates = [t for t in self._tracks.values() if t.group == group]
        pairs: list[tuple[float, int, int]] = []
        for bi, box in enumerate(boxes):
            for track in candidates:
                score = iou(track.box, box)
                if score >= self.match_iou:
                    pairs.append((score, bi, track.id))
        pairs.sort(reverse=True)
        assigned: dict[int, Track] = {}
        used: set[int] = set()
        for _score, bi, tid in pairs:
            if bi in assigned or tid in used:
                continue
            assigned[bi] = self._tracks[tid]
            used.add(tid)
        result: list[Track] = []
        for bi, box in enumerate(boxes):
            found = assigned.get(bi)
            if found is None:
                track = Track(self._next_id, group, box, now, now)
                self._next_id += 1
                self._tracks[track.id] = track
            else:
                track = found
            track.box = box
            track.last_seen = now
            track.history.append((now, box))
            while track.history and track.history[0][0] < now - _HISTORY_S:
                track.history.popleft()
            result.append(track)
        self._expire(now)
        return result

    def _expire(self, now: float) -> None:
        for tid in [t.id for t in self._tracks.values() if now - t.last_seen > self.max_age_s]:
            del self._tracks[tid]
