"""From detector output to dwell-engine input: merge zone-crop results, normalise, sign;
and the second look at a violation before it is announced (``vision/verify.py``).

Shared by the camera driver and replay, so both feed the engine identically.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from vision.dwell import VEHICLE_LABELS, Decision, DecisionKind, DwellEngine, Observation
from vision.evidence import appearance_signature
from vision.geometry import iou, normalise_box
from vision.types import Detection
from vision.verify import Verdict

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


def to_check(
    engine: DwellEngine, decisions: Sequence[Decision], verified: set[str]
) -> dict[str, tuple[float, float, float, float]]:
    """Candidates about to become a violation that have not had their second look yet,
    with their anchor box (normalised). ``verified`` is pruned to live candidates."""
    verified &= set(engine.candidates)
    return {
        d.candidate: engine.candidates[d.candidate].anchor
        for d in decisions
        if d.kind is DecisionKind.VIOLATION_STARTED
        and d.candidate in engine.candidates
        and d.candidate not in verified
    }


def settle(
    engine: DwellEngine,
    decisions: Sequence[Decision],
    verdicts: dict[str, Verdict | None],
    verified: set[str],
) -> list[Decision]:
    """Apply second looks: a confirmed violation goes on, a rejected candidate is dropped
    (the engine says why), and one whose check failed (``None``) waits for the next sighting.
    """
    out: list[Decision] = []
    for d in decisions:
        cid = d.candidate
        if cid is None or cid not in verdicts or d.kind is not DecisionKind.VIOLATION_STARTED:
            out.append(d)
            continue
        verdict = verdicts[cid]
        if verdict is None:
            continue
        if verdict.confirmed:
            verified.add(cid)
            out.append(d)
            continue
        out += engine.reject(cid, d.t, d.wall, f"two-wheeler {verdict.reason()}")
    return out
