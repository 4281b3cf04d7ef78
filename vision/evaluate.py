"""Detector quality on labelled photos: P/R/F1 at IoU 0.5, a threshold sweep, misses.

Scoring follows ``shared/models/PROVENANCE.md`` and ``labels.json``: two-wheelers only
(the merged label), IoU >= 0.5, greedy matching best score first; boxes labelled
``uncertain`` are ignored (neither TP nor FN, and a detection on one is not an FP); a second
detection on an already matched bike is a false positive. The sweep re-scores one run of
the detector at a low threshold floor: a higher threshold keeps the detections at or above
it. (A detector configured with that threshold could differ slightly, because rows below
it would no longer suppress others in NMS; so the configured threshold is run for real and
reported separately.)

No onnxruntime here: the caller passes detectors (``detect(frame) -> detections``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from vision.geometry import iou
from vision.plot import save_crop
from vision.preprocess import read_image
from vision.types import TWO_WHEELER, Box, Detection
from vision.verify import Verdict

IOU_MATCH = 0.5
SWEEP = tuple(round(0.05 * i, 2) for i in range(1, 20))  # 0.05 .. 0.95
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp"})


@dataclass(frozen=True, slots=True)
class Truth:
    box: Box
    uncertain: bool = False


@dataclass(frozen=True, slots=True)
class ImageResult:
    """One image scored: which detections were right, which bikes were missed."""

    file: str
    hits: tuple[Detection, ...]
    false_alarms: tuple[Detection, ...]
    misses: tuple[Box, ...]

    @property
    def counts(self) -> dict[str, int]:
        return {"tp": len(self.hits), "fp": len(self.false_alarms), "fn": len(self.misses)}


@dataclass(frozen=True, slots=True)
class Scores:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": round(self.precision, 3),
            "recall": round(self.recall, 3),
            "f1": round(self.f1, 3),
        }


def score_image(file: str, detections: Iterable[Detection], truth: Sequence[Truth]) -> ImageResult:
    """Greedy matching, best detection first, at IoU >= 0.5; uncertain truth ignored."""
    bikes = sorted((d for d in detections if d.label == TWO_WHEELER), key=lambda d: -d.score)
    matched: set[int] = set()
    hits: list[Detection] = []
    false_alarms: list[Detection] = []
    for det in bikes:
        best, best_j = 0.0, -1
        for j, t in enumerate(truth):
            if j in matched and not t.uncertain:
                continue
            overlap = iou(det.box, t.box)
            if overlap > best:
                best, best_j = overlap, j
        if best < IOU_MATCH:
            false_alarms.append(det)
        elif not truth[best_j].uncertain:  # a detection on an uncertain box is ignored
            matched.add(best_j)
            hits.append(det)
    misses = tuple(t.box for j, t in enumerate(truth) if not t.uncertain and j not in matched)
    return ImageResult(file, tuple(hits), tuple(false_alarms), misses)


def total(results: Iterable[ImageResult]) -> Scores:
    tp = fp = fn = 0
    for r in results:
        tp, fp, fn = tp + len(r.hits), fp + len(r.false_alarms), fn + len(r.misses)
    return Scores(tp, fp, fn)


def sweep(
    detections: dict[str, list[Detection]],
    truth: dict[str, list[Truth]],
    thresholds: Iterable[float] = SWEEP,
) -> list[tuple[float, Scores]]:
    """Scores at each threshold, from one low-threshold run (``detections`` per file)."""
    return [
        (
            th,
            total(
                score_image(f, [d for d in dets if d.score >= th], truth.get(f, []))
                for f, dets in detections.items()
            ),
        )
        for th in thresholds
    ]


@dataclass
class LabelledSet:
    """Images and their truth, from a ``labels.json`` in the shared test-data format."""

    truth: dict[str, list[Truth]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> LabelledSet:
        data = json.loads(path.read_text())
        truth = {
            entry["file"]: [
                Truth(tuple(float(v) for v in b["box"]), bool(b.get("uncertain", False)))  # type: ignore[arg-type]
                for b in entry.get("two_wheelers", [])
            ]
            for entry in data["images"]
        }
        return cls(truth)


def image_paths(args: Iterable[Path]) -> list[Path]:
    """Expand directories to their image files (sorted); keep files as given."""
    out: list[Path] = []
    for p in args:
        if p.is_dir():
            out.extend(sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES))
        else:
            out.append(p)
    return out


def _det_json(d: Detection) -> dict[str, Any]:
    return {
        "score": round(d.score, 3),
        "box": [round(v, 1) for v in d.box],
        "source_class": d.source_class,
    }


def image_report(r: ImageResult) -> dict[str, Any]:
    return {
        "file": r.file,
        **r.counts,
        "misses": [[round(v, 1) for v in b] for b in r.misses],
        "false_alarms": [_det_json(d) for d in r.false_alarms],
    }


def report(
    results: Sequence[ImageResult],
    low_run: dict[str, list[Detection]],
    truth: dict[str, list[Truth]],
    threshold: float,
) -> dict[str, Any]:
    """The JSON report: figures at ``threshold``, the sweep, misses and false alarms."""
    return {
        "iou": IOU_MATCH,
        "threshold": threshold,
        "images": len(results),
        "at_threshold": total(results).as_dict(),
        "sweep": [{"threshold": th, **s.as_dict()} for th, s in sweep(low_run, truth)],
        "per_image": [image_report(r) for r in results],
    }


class _Detects(Protocol):
    def detect(self, frame_bgr: npt.NDArray[np.uint8]) -> list[Detection]: ...


class _Verifies(Protocol):
    def verify(self, frame_bgr: npt.NDArray[np.uint8], box: Box) -> Verdict: ...


def verified(
    verifier: _Verifies, image: npt.NDArray[np.uint8], detections: Sequence[Detection]
) -> tuple[list[Detection], list[tuple[Detection, Verdict]]]:
    """The detections a second look keeps, and the two-wheelers it rejected (with why)."""
    kept: list[Detection] = []
    rejected: list[tuple[Detection, Verdict]] = []
    for det in detections:
        verdict = verifier.verify(image, det.box) if det.label == TWO_WHEELER else None
        if verdict is None or verdict.confirmed:
            kept.append(det)
        else:
            rejected.append((det, verdict))
    return kept, rejected


def run_eval(
    detector: _Detects,
    low_detector: _Detects,
    paths: Sequence[Path],
    labelled: LabelledSet,
    crops: Path | None = None,
    verifier: _Verifies | None = None,
) -> dict[str, Any]:
    """Score ``detector`` (at its threshold) and ``low_detector`` (at ``SWEEP[0]``, for the
    sweep) on ``paths``; images missing from ``labelled`` are listed, not scored. With a
    ``verifier`` the figures are also given after its second look (``with_verify``), the
    check the camera makes once before a violation."""
    results: list[ImageResult] = []
    checked: list[ImageResult] = []
    rejected: dict[str, list[dict[str, Any]]] = {}
    low_run: dict[str, list[Detection]] = {}
    unlabelled: list[str] = []
    for path in paths:
        truth = labelled.truth.get(path.name)
        if truth is None:
            unlabelled.append(str(path))
            continue
        image = read_image(path)
        found = detector.detect(image)
        result = score_image(path.name, found, truth)
        results.append(result)
        low_run[path.name] = low_detector.detect(image)
        if crops is not None:
            _save_crops(image, result, crops)
        if verifier is not None:
            kept, dropped = verified(verifier, image, found)
            checked.append(score_image(path.name, kept, truth))
            rejected[path.name] = [_det_json(d) | {"why": v.reason()} for d, v in dropped]
    threshold = float(getattr(getattr(detector, "config", None), "score_threshold", 0.0))
    out = report(results, low_run, labelled.truth, threshold)
    if verifier is not None:
        out["with_verify"] = total(checked).as_dict()
        for row in out["per_image"]:
            row["rejected_by_verify"] = rejected.get(row["file"], [])
    out["unlabelled"] = unlabelled
    return out


def _save_crops(image: npt.NDArray[np.uint8], result: ImageResult, crops: Path) -> None:
    crops.mkdir(parents=True, exist_ok=True)
    stem = Path(result.file).stem
    for i, box in enumerate(result.misses):
        save_crop(image, box, crops / f"{stem}.miss{i + 1}.png")
    for i, det in enumerate(result.false_alarms):
        save_crop(image, det.box, crops / f"{stem}.false{i + 1}.{det.score:.2f}.png")
