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

from vision.geometry import iou
from vision.types import Box

# How far back a track remembers its boxes; enough for the motion window.
_HISTORY_S = 10.0


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
