"""Pictures for the detector evaluation: the precision-recall curve and crops (OpenCV).

Drawn with OpenCV rather than matplotlib so ``vision eval`` needs nothing beyond the
``vision`` extra. The curve is deliberately plain: axes 0..1 with a 0.1 grid, the sweep as
a polyline with a dot per threshold, the configured threshold ringed and labelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from vision.types import Box

_W, _H, _M = 640, 520, 60  # canvas and margin (pixels)
_INK = (40, 40, 40)
_GRID = (225, 225, 225)
_CURVE = (200, 90, 20)  # BGR: a blue line
_MARK = (30, 30, 220)  # red ring at the operating point


def _xy(recall: float, precision: float) -> tuple[int, int]:
    return (
        round(_M + recall * (_W - 2 * _M)),
        round(_H - _M - precision * (_H - 2 * _M)),
    )


def _axes(img: npt.NDArray[np.uint8], title: str) -> None:
    font = cv2.FONT_HERSHEY_SIMPLEX
    for i in range(11):
        v = i / 10
        cv2.line(img, _xy(v, 0), _xy(v, 1), _GRID, 1)
        cv2.line(img, _xy(0, v), _xy(1, v), _GRID, 1)
        x, y = _xy(v, 0)
        cv2.putText(img, f"{v:.1f}", (x - 12, y + 20), font, 0.4, _INK, 1, cv2.LINE_AA)
        x, y = _xy(0, v)
        cv2.putText(img, f"{v:.1f}", (x - 36, y + 4), font, 0.4, _INK, 1, cv2.LINE_AA)
    cv2.rectangle(img, _xy(0, 1), _xy(1, 0), _INK, 1)
    cv2.putText(img, "recall", (_W // 2 - 25, _H - 15), font, 0.5, _INK, 1, cv2.LINE_AA)
    cv2.putText(img, "precision", (5, _M - 20), font, 0.5, _INK, 1, cv2.LINE_AA)
    cv2.putText(img, title, (_M + 90, 30), font, 0.55, _INK, 1, cv2.LINE_AA)


def draw_pr_curve(
    points: Sequence[tuple[float, float, float]],
    operating: tuple[float, float, float],
    path: Path,
    title: str = "two_wheeler, IoU 0.5",
) -> None:
    """Write a PNG of ``points`` = (threshold, recall, precision); ring ``operating``."""
    img = np.full((_H, _W, 3), 255, dtype=np.uint8)
    _axes(img, title)
    ordered = sorted(points, key=lambda p: (p[1], -p[0]))
    line = np.asarray([_xy(r, p) for _t, r, p in ordered], dtype=np.int32)
    if len(line) > 1:
        cv2.polylines(img, [line], isClosed=False, color=_CURVE, thickness=2, lineType=cv2.LINE_AA)
    for x, y in line.tolist():
        cv2.circle(img, (x, y), 3, _CURVE, -1, cv2.LINE_AA)
    th, r, p = operating
    centre = _xy(r, p)
    cv2.circle(img, centre, 8, _MARK, 2, cv2.LINE_AA)
    label = f"threshold {th:.2f}: P {p:.2f} R {r:.2f}"
    cv2.putText(
        img,
        label,
        (centre[0] - 200, centre[1] + 25),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.45,
        _MARK,
        1,
        cv2.LINE_AA,
    )
    if not cv2.imwrite(str(path), img):
        raise ValueError(f"{path}: cannot write the PNG")


def save_crop(image: npt.NDArray[np.uint8], box: Box, path: Path, margin: float = 0.1) -> None:
    """Save ``box`` of ``image`` (plus ``margin`` of its size) as an image file."""
    h, w = image.shape[:2]
    bw, bh = box[2] - box[0], box[3] - box[1]
    x1, y1 = max(0, int(box[0] - margin * bw)), max(0, int(box[1] - margin * bh))
    x2, y2 = min(w, int(box[2] + margin * bw) + 1), min(h, int(box[3] + margin * bh) + 1)
    if x2 <= x1 or y2 <= y1 or not cv2.imwrite(str(path), image[y1:y2, x1:x2]):
        raise ValueError(f"{path}: cannot write the crop of box {box}")
