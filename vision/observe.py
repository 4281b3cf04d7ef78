"""From detector output to dwell-engine input: merge zone-crop results, normalise, sign.

Shared by the camera driver and replay, so both feed the engine identically.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from vision.dwell import VEHICLE_LABELS, Observation
from vision.evidence import appearance_signature
from vision.geometry import iou, normalise_box
from vision.types import Detection

# Two results for the same object from the full frame and a zone crop overlap strongly.
_DUPLICATE_IOU = 0.6


def merge_detections(groups: Sequence[Sequence[Detection]]) -> list[Detection]:
    """All detections, highest score first, dropping same-label near-duplicates."""
    merged: list[Detection] = []
    for det in sorted((d for g in groups for d in g), key=lambda d: d.score, reverse=True):
        if any(m.label == det.label and iou(m.box, det.box) >= _DUPLICATE_IOU for m in merged):
            continue
        merged.append(det)
    return merged


def observations(
    frame: npt.NDArray[np.uint8], detections: Sequence[Detection]
) -> list[Observation]:
    """Normalised observations; two-wheelers get an appearance signature."""
    h, w = frame.shape[:2]
    out: list[Observation] = []
    for det in detections:
        sig = appearance_signature(frame, det.box) if det.label in VEHICLE_LABELS else ()
        out.append(
            Observation(
                label=det.label,
                score=det.score,
                box=normalise_box(det.box, w, h),
                source_class=det.source_class,
                signature=sig or None,
            )
        )
    return out


def pixel_box(
    box: tuple[float, float, float, float], frame: npt.NDArray[np.uint8]
) -> tuple[float, float, float, float]:
    h, w = frame.shape[:2]
    return (box[0] * w, box[1] * h, box[2] * w, box[3] * h)
