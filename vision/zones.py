"""Zone presence (bottom-centre with spatial hysteresis) and activity (schedules).

Pure Python (no numpy, no OpenCV) so the dwell engine and its tests run anywhere; the
geometry itself is in ``vision.geometry``. Points and boxes here are normalised to the
frame (0..1), like the configured polygons.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from vision.config import ZoneConfig
from vision.geometry import (
    Point,
    bottom_centre,
    distance_to_outline,
    point_in_polygon,
)
from vision.types import Box


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
