"""Precision and recall of the shipped detector on the shared, hand-labelled test photos.

Scoring follows shared/models/PROVENANCE.md: two-wheelers only (bicycle and motorcycle
merged), score >= 0.3, IoU >= 0.5, greedy matching best score first; boxes labelled
``uncertain`` are ignored (neither TP nor FN, and a detection on one is not an FP). A second
detection on an already matched bike counts as a false positive. The raw model scored
TP 16, FP 8, FN 1 there; the product path must be no worse on any count.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.vision._detector_support import iou, model_config
from vision.detector import Detector
from vision.preprocess import read_image
from vision.types import TWO_WHEELER, Detection

BASELINE = {"tp": 16, "fp": 8, "fn": 1}


@pytest.fixture(scope="module")
def detector(shared_dir: Path) -> Iterator[Detector]:
    yield Detector(model_config(shared_dir, score_threshold=0.3))


def score_image(detections: list[Detection], labels: list[dict[str, Any]]) -> dict[str, int]:
    """TP/FP/FN for one image, uncertain labels ignored."""
    bikes = sorted((d for d in detections if d.label == TWO_WHEELER), key=lambda d: -d.score)
    matched: set[int] = set()
    tp = fp = 0
    for det in bikes:
        best, best_j = 0.0, -1
        for j, label in enumerate(labels):
            if j in matched and not label["uncertain"]:
                continue
            overlap = iou(det.box, tuple(label["box"]))
            if overlap > best:
                best, best_j = overlap, j
        if best >= 0.5:
            if labels[best_j]["uncertain"]:
                continue  # a detection on an uncertain box is ignored
            matched.add(best_j)
            tp += 1
        else:
            fp += 1
    fn = sum(1 for j, label in enumerate(labels) if not label["uncertain"] and j not in matched)
    return {"tp": tp, "fp": fp, "fn": fn}


def test_score_image_rules() -> None:
    det = Detection(TWO_WHEELER, 0.9, (0, 0, 100, 100))
    dup = Detection(TWO_WHEELER, 0.8, (2, 0, 100, 100))
    sure = {"box": [0, 0, 100, 100], "uncertain": False}
    unsure = {"box": [0, 0, 100, 100], "uncertain": True}
    assert score_image([det, dup], [sure]) == {"tp": 1, "fp": 1, "fn": 0}
    assert score_image([det], [unsure]) == {"tp": 0, "fp": 0, "fn": 0}
    assert score_image([], [sure, unsure]) == {"tp": 0, "fp": 0, "fn": 1}


def test_precision_recall_not_worse_than_raw_model(
    detector: Detector, shared_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    data = json.loads((shared_dir / "testdata" / "labels.json").read_text())
    totals = {"tp": 0, "fp": 0, "fn": 0}
    per_image: list[dict[str, Any]] = []
    for entry in data["images"]:
        image = read_image(shared_dir / "testdata" / "images" / entry["file"])
        assert image.shape[:2] == (entry["height"], entry["width"]), entry["file"]
        found = detector.detect(image)
        counts = score_image(found, entry["two_wheelers"])
        for key, value in counts.items():
            totals[key] += value
        per_image.append(
            {
                "file": entry["file"],
                **counts,
                "detections": [
                    {"label": d.label, "score": round(d.score, 3), "box": [round(v) for v in d.box]}
                    for d in found
                    if d.label == TWO_WHEELER
                ],
            }
        )
    tp, fp, fn = totals["tp"], totals["fp"], totals["fn"]
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    report = {
        "images": len(data["images"]),
        **totals,
        "precision": round(precision, 3),
        "recall": round(recall, 3),
        "baseline": BASELINE,
        "per_image": per_image,
    }
    artifact = tmp_path_factory.mktemp("detector-accuracy") / "accuracy.json"
    artifact.write_text(json.dumps(report, indent=1))
    print(
        f"\ndetector accuracy: TP {tp} FP {fp} FN {fn} precision {precision:.3f} "
        f"recall {recall:.3f} ({artifact})"
    )
    assert tp >= BASELINE["tp"], report
    assert fn <= BASELINE["fn"], report
    assert fp <= BASELINE["fp"], report
