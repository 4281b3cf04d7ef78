"""Zone geometry and activity: presence by bottom-centre with spatial hysteresis, schedules.

Pure Python (no numpy, no OpenCV) so the dwell engine and its tests run anywhere. Points
and boxes here are normalised to the frame (0..1), like the configured polygons.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from vision.config import ZoneConfig
from vision.types import Box

Point = tuple[float, float]


def bottom_centre(box: Box) -> Point:
    """Where a bike touches the floor; matches zones drawn on the ground (as Frigate does)."""
    x1, _y1, x2, y2 = box
    return ((x1 + x2) / 2.0, y2)


def point_in_polygon(p: Point, polygon: Sequence[Point]) -> bool:
    """Even-odd ray casting; points exactly on an edge may fall either way."""
    x, y = p
    inside = False
    n = len(polygon)
    j = n - 1
    for i in range(n):
        xi, yi = polygon[i]
        xj, yj = polygon[j]
        if (yi > y) != (yj > y):
            x_cross = xi + (y - yi) * (xj - xi) / (yj - yi)
            if x < x_cross:
                inside = not inside
        j = i
    return inside


def _segment_distance(p: Point, a: Point, b: Point) -> float:
    ax, ay = a
    bx, by = b
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    if length2 == 0:
        return math.hypot(p[0] - ax, p[1] - ay)
    t = max(0.0, min(1.0, ((p[0] - ax) * dx + (p[1] - ay) * dy) / length2))
    return math.hypot(p[0] - (ax + t * dx), p[1] - (ay + t * dy))


def distance_to_outline(p: Point, polygon: Sequence[Point]) -> float:
    n = len(polygon)
    return min(_segment_distance(p, polygon[i], polygon[(i + 1) % n]) for i in range(n))


def normalise_box(box: Box, width: int, height: int) -> Box:
    x1, y1, x2, y2 = box
    return (x1 / width, y1 / height, x2 / width, y2 / height)


def polygon_pixels(polygon: Sequence[Point], width: int, height: int) -> list[tuple[int, int]]:
    return [(round(x * width), round(y * height)) for x, y in polygon]


def polygon_rect(
    polygon: Sequence[Point], width: int, height: int, margin: float = 0.1
) -> tuple[int, int, int, int]:
    """Pixel bounding rectangle of a zone plus ``margin`` of its size (for zone crops).

    The margin lets a bike standing on the zone's edge be seen whole.
    """
    xs = [x for x, _ in polygon]
    ys = [y for _, y in polygon]
    w, h = max(xs) - min(xs), max(ys) - min(ys)
    x1 = max(0.0, min(xs) - margin * w)
    x2 = min(1.0, max(xs) + margin * w)
    # Bikes stand *on* the zone and rise above it: extend upwards by a whole zone height.
    y1 = max(0.0, min(ys) - max(h, 0.25))
    y2 = min(1.0, max(ys) + margin * h)
    return (int(x1 * width), int(y1 * height), math.ceil(x2 * width), math.ceil(y2 * height))


@dataclass(frozen=True, slots=True)
class Zone:
    """A configured zone with its geometry ready for tests."""

    config: ZoneConfig

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def polygon(self) -> list[Point]:
        return [(float(x), float(y)) for x, y in self.config.polygon]

    def enters(self, box: Box) -> bool:
        """A new bike counts as in the zone only if its bottom-centre is strictly inside."""
        return point_in_polygon(bottom_centre(box), self.polygon)

    def stays(self, box: Box) -> bool:
        """A known bike stays in until its bottom-centre is beyond the hysteresis margin."""
        p = bottom_centre(box)
        if point_in_polygon(p, self.polygon):
            return True
        return distance_to_outline(p, self.polygon) <= self.config.hysteresis

    def active_at(self, wall: datetime) -> bool:
        """Whether the zone is enforced at ``wall`` (UTC-aware), per its schedules."""
        if not self.config.schedules:
            return True
        tz = ZoneInfo(self.config.timezone) if self.config.timezone else None
        local = wall.astimezone(tz)
        for window in self.config.schedules:
            start, end = window.start_time(), window.end_time()
            now_t = local.timetz().replace(tzinfo=None)
            day = local.strftime("%a").lower()[:3]
            if start <= end:
                if day in window.days and start <= now_t < end:
                    return True
            else:  # wraps past midnight: the part after midnight belongs to yesterday's window
                yesterday = (local - timedelta(days=1)).strftime("%a").lower()[:3]
                if (day in window.days and now_t >= start) or (
                    yesterday in window.days and now_t < end
                ):
                    return True
        return False
