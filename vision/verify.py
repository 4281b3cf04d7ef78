"""Second look at a two-wheeler before it becomes a violation: re-detect on its crop.

A candidate box is confirmed when the same detector, run again on a crop around it (with
``MARGIN`` of the box's size on every side, letterboxed to the full model input, so a
small box is seen at several times the resolution), finds a two-wheeler overlapping it at
IoU >= ``MATCH_IOU``. With ``crop_flip`` the mirrored crop must confirm it too. It costs one
inference (two with the flip) per candidate, once, when its dwell reaches the grace
period; the per-frame path is unchanged.

The parameters come from principles, not from the test photos (issue 12):

* ``MATCH_IOU`` = 0.5 is the "same object" rule the evaluation itself uses.
* ``MARGIN`` = 0.25: a box that overlaps the candidate at IoU 0.5 by growing around it
  is up to twice its area, i.e. sqrt(2) times each side, 0.21 of the size on each side;
  0.25 keeps the whole object that would count as a hit inside the crop, with a little
  context (rounded up, never searched).
* The flip: COCO models are trained with random horizontal flips, so a real bicycle or
  motorcycle scores about the same mirrored; an accidental response to a texture (the loops
  of a bike-rack coil read as tyres) need not survive the mirror. This is standard
  test-time augmentation.
* The threshold of the re-check is the detector's own ``score_threshold``.

Measured on the shared photos and the hard negatives in docs/vision-detector.md.
No onnxruntime or OpenCV here: the caller passes ``detect(image) -> detections``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vision.geometry import iou
from vision.model_config import VerifyMode
from vision.types import TWO_WHEELER, Box, Detection

MARGIN = 0.25
MATCH_IOU = 0.5

Roi = tuple[int, int, int, int]
Detect = Callable[[npt.NDArray[np.uint8]], list[Detection]]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the second look found: confirmed or not, and the overlaps it saw."""

    confirmed: bool
    crop: Roi  # the region re-detected, frame pixels
    crop_iou: float  # best two-wheeler IoU with the candidate on the crop
    flip_iou: float | None  # the same on the mirrored crop (None: not run)

    def reason(self) -> str:
        flip = "" if self.flip_iou is None else f", mirrored {self.flip_iou:.2f}"
        verb = "confirmed" if self.confirmed else "not confirmed"
        return f"{verb} by a re-check on its crop (IoU {self.crop_iou:.2f}{flip})"


def crop_rect(box: Box, frame_wh: tuple[int, int], margin: float = MARGIN) -> Roi:
    """The box grown by ``margin`` of its size on every side, clipped to the frame."""
    x1, y1, x2, y2 = box
    w, h = frame_wh
    mx, my = margin * (x2 - x1), margin * (y2 - y1)
    rx1, ry1 = max(0, int(np.floor(x1 - mx))), max(0, int(np.floor(y1 - my)))
    rx2, ry2 = min(w, int(np.ceil(x2 + mx))), min(h, int(np.ceil(y2 + my)))
    return rx1, ry1, max(rx2, rx1 + 1), max(ry2, ry1 + 1)


def _best_overlap(found: list[Detection], box: Box, shift: Callable[[Box], Box]) -> float:
    return max((iou(shift(d.box), box) for d in found if d.label == TWO_WHEELER), default=0.0)


def verify(frame: npt.NDArray[np.uint8], box: Box, detect: Detect, mode: VerifyMode) -> Verdict:
    """Re-detect around ``box`` (frame pixels) and say whether it is a two-wheeler."""
    h, w = frame.shape[:2]
    rect = crop_rect(box, (w, h))
    x1, y1, x2, y2 = rect
    if mode == "off":
        return Verdict(True, rect, 1.0, None)
    crop = frame[y1:y2, x1:x2]
    crop_iou = _best_overlap(
        detect(crop), box, lambda b: (b[0] + x1, b[1] + y1, b[2] + x1, b[3] + y1)
    )
    flip_iou = None
    if mode == "crop_flip" and crop_iou >= MATCH_IOU:
        mirrored = np.ascontiguousarray(crop[:, ::-1])
        flip_iou = _best_overlap(
            detect(mirrored), box, lambda b: (x2 - b[2], b[1] + y1, x2 - b[0], b[3] + y1)
        )
    confirmed = crop_iou >= MATCH_IOU and (flip_iou is None or flip_iou >= MATCH_IOU)
    return Verdict(confirmed, rect, crop_iou, flip_iou)
