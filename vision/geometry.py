"""All plane geometry of the vision package: boxes, points and zone polygons (pure Python).

One module so the tracker, the dwell engine, the zones, the config validation and the
inference-region crop agree on what "inside", "overlap" and "bottom-centre" mean. No
numpy, no OpenCV: the config loader imports this on every gateway. Boxes are
``(x1, y1, x2, y2)``; whether in pixels or normalised to the frame (0..1) is the caller's
choice, and every function here works the same for both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from vision.types import Box

Point = tuple[float, float]


# -- boxes --------------------------------------------------------------------------


def area(b: Box) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def _intersection(a: Box, b: Box) -> float:
    ix1, iy1 = max(a[0], b[0]), max(a[1], b[1])
    ix2, iy2 = min(a[2], b[2]), min(a[3], b[3])
    return max(0.0, ix2 - ix1) * max(0.0, iy2 - iy1)


def iou(a: Box, b: Box) -> float:
    inter = _intersection(a, b)
    if inter <= 0:
        return 0.0
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


def inside_fraction(inner: Box, outer: Box) -> float:
    """Share of ``inner``'s area that lies inside ``outer`` (0..1)."""
    a = area(inner)
    return _intersection(inner, outer) / a if a > 0 else 0.0


def area_ratio(a: Box, b: Box) -> float:
    """min/max of the two areas (1 = same size)."""
    big = max(area(a), area(b))
    return min(area(a), area(b)) / big if big > 0 else 0.0


def intersects(a: Box, b: Box) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def expand(box: Box, fx: float, fy: float) -> Box:
    """Grow ``box`` by ``fx`` of its width on each side and ``fy`` of its height."""
    w, h = box[2] - box[0], box[3] - box[1]
    return (box[0] - fx * w, box[1] - fy * h, box[2] + fx * w, box[3] + fy * h)


def bottom_centre(box: Box) -> Point:
    """Where a bike touches the floor; matches zones drawn on the ground (as Frigate does)."""
    x1, _y1, x2, y2 = box
    return ((x1 + x2) / 2.0, y2)


def normalise_box(box: Box, width: int, height: int) -> Box:
    x1, y1, x2, y2 = box
    return (x1 / width, y1 / height, x2 / width, y2 / height)


def offset_box(box: Box, dx: float, dy: float) -> Box:
    """``box`` moved by (dx, dy): crop coordinates back to full-frame coordinates."""
    return (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy)


# -- polygons -----------------------------------------------------------------------


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


def _orientation(a: Point, b: Point, c: Point) -> float:
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def _on_segment(a: Point, b: Point, p: Point) -> bool:
    return min(a[0], b[0]) <= p[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= p[1] <= max(a[1], b[1])


def segments_intersect(a: Point, b: Point, c: Point, d: Point) -> bool:
    """Whether segment a-b touches segment c-d (including collinear overlap)."""
    o1, o2 = _orientation(a, b, c), _orientation(a, b, d)
    o3, o4 = _orientation(c, d, a), _orientation(c, d, b)
    if ((o1 > 0 > o2) or (o1 < 0 < o2)) and ((o3 > 0 > o4) or (o3 < 0 < o4)):
        return True
    return (
        (o1 == 0 and _on_segment(a, b, c))
        or (o2 == 0 and _on_segment(a, b, d))
        or (o3 == 0 and _on_segment(c, d, a))
        or (o4 == 0 and _on_segment(c, d, b))
    )


def polygon_area(points: Sequence[Point]) -> float:
    """Unsigned shoelace area."""
    n = len(points)
    s = 0.0
    for i in range(n):
        x1, y1 = points[i]
        x2, y2 = points[(i + 1) % n]
        s += x1 * y2 - x2 * y1
    return abs(s) / 2.0


def check_polygon(points: Sequence[Point]) -> None:
    """Raise ValueError with an installer-readable message if ``points`` is not a zone."""
    if len(points) < 3:
        raise ValueError(f"a zone polygon needs at least 3 points, got {len(points)}")
    for i, (x, y) in enumerate(points, start=1):
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(
                f"polygon point {i} ({x}, {y}) is outside 0..1; coordinates are fractions "
                "of the frame width and height (0,0 top-left, 1,1 bottom-right)"
            )
    n = len(points)
    edges = [(points[i], points[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue  # adjacent through the closing edge
            if segments_intersect(*edges[i], *edges[j]):
                a, b = i + 1, (i + 1) % n + 1
                c, d = j + 1, (j + 1) % n + 1
                raise ValueError(
                    f"polygon edges {a}-{b} and {c}-{d} cross; list the points in order "
                    "around the zone's outline"
                )
    if polygon_area(points) < 1e-4:
        raise ValueError("polygon has (almost) no area; are points repeated or collinear?")


# A zone crop worth running instead of the whole frame covers at most this share of it;
# beyond that the letterbox gains too few pixels to matter (see docs/vision.md).
AUTO_REGION_MAX_SHARE = 0.6


def inference_rect(
    region: str | Sequence[float],
    polygons: Sequence[Sequence[Point]],
    width: int,
    height: int,
) -> tuple[int, int, int, int] | None:
    """Pixel rectangle the detector should see, or None for the whole frame.

    ``region`` is ``"full"``, ``"auto"`` (the zones' crop rectangles, with their margins,
    joined; the whole frame if that covers more than ``AUTO_REGION_MAX_SHARE`` of it) or
    ``[x1, y1, x2, y2]`` as fractions of the frame.
    """
    if region == "full" or (not polygons and region == "auto"):
        return None
    if isinstance(region, str):
        rects = [polygon_rect(p, width, height) for p in polygons]
        x1, y1 = min(r[0] for r in rects), min(r[1] for r in rects)
        x2, y2 = max(r[2] for r in rects), max(r[3] for r in rects)
        if (x2 - x1) * (y2 - y1) > AUTO_REGION_MAX_SHARE * width * height:
            return None
        return (x1, y1, x2, y2)
    fx1, fy1, fx2, fy2 = region
    return (int(fx1 * width), int(fy1 * height), math.ceil(fx2 * width), math.ceil(fy2 * height))
