"""Installer pictures on a terminal: a labelled coordinate grid and detections with anchors.

For ``camera snapshot`` and ``camera detect --annotate`` (agent/commands/camera_snapshot.py,
camera_detect.py): an installer without a browser reads zone coordinates off the grid
(fractions of the frame, 0,0 top-left, as ``zones[].polygon`` takes them) and sees, for
every detection, the bottom-centre anchor point with its coordinates - the point that
decides whether a bike is in a zone (docs/vision.md). People are blurred first, as in
evidence snapshots (vision/evidence.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2

from vision.evidence import Image, blur_people
from vision.geometry import bottom_centre
from vision.types import PERSON, Detection

_GRID = (255, 255, 255)
_INK = (0, 0, 0)
_BIKE = (60, 220, 60)  # BGR green
_PERSON = (255, 120, 180)  # BGR violet
_ANCHOR = (0, 234, 255)  # BGR yellow
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _text(
    img: Image, text: str, org: tuple[int, int], scale: float, colour: tuple[int, ...]
) -> None:
    thick = max(1, round(scale * 2))
    cv2.putText(img, text, org, _FONT, scale, _INK, thick + 2, cv2.LINE_AA)
    cv2.putText(img, text, org, _FONT, scale, colour, thick, cv2.LINE_AA)


def draw_grid(image: Image, step: float = 0.1) -> Image:
    """Copy of ``image`` with grid lines every ``step`` of the frame, labelled on two edges."""
    if not 0.01 <= step <= 0.5:
        raise ValueError("grid step must be between 0.01 and 0.5 of the frame")
    out = image.copy()
    h, w = out.shape[:2]
    scale = max(0.35, min(w, h) / 1400)
    lines = out.copy()
    n = round(1 / step)
    for i in range(1, n):
        x, y = round(i * step * w), round(i * step * h)
        cv2.line(lines, (x, 0), (x, h), _GRID, 1, cv2.LINE_AA)
        cv2.line(lines, (0, y), (w, y), _GRID, 1, cv2.LINE_AA)
    cv2.addWeighted(lines, 0.55, out, 0.45, 0, out)
    for i in range(1, n):
        v = i * step
        _text(out, f"{v:.2g}", (round(v * w) + 3, round(16 * scale / 0.5)), scale, _GRID)
        _text(out, f"{v:.2g}", (3, round(v * h) - 4), scale, _GRID)
    return out


def draw_detections(image: Image, detections: Sequence[Detection]) -> Image:
    """Copy of ``image`` with people blurred, each box, its label and its anchor point."""
    out = blur_people(image, [d.box for d in detections if d.label == PERSON])
    h, w = out.shape[:2]
    scale = max(0.4, min(w, h) / 1200)
    thick = max(2, round(min(w, h) / 300))
    for d in detections:
        colour = _PERSON if d.label == PERSON else _BIKE
        x1, y1, x2, y2 = (round(v) for v in d.box)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thick)
        _text(out, f"{d.label} {d.score:.2f}", (x1 + 2, max(12, y1 - 6)), scale, colour)
        ax, ay = bottom_centre((d.box[0] / w, d.box[1] / h, d.box[2] / w, d.box[3] / h))
        centre = (round(ax * w), round(ay * h))
        cv2.circle(out, centre, thick * 3, _INK, -1, cv2.LINE_AA)
        cv2.circle(out, centre, thick * 2, _ANCHOR, -1, cv2.LINE_AA)
        label = f"({ax:.2f}, {ay:.2f})"
        _text(out, label, (centre[0] + thick * 4, max(12, centre[1] - thick * 3)), scale, _ANCHOR)
    return out
