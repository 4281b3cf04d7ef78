"""``vision eval`` and ``vision.evaluate`` against hand-computed counts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from vision.evaluate import Truth, report, score_image, sweep
from vision.types import PERSON, TWO_WHEELER, Detection


def _d(score: float, box: tuple[float, float, float, float]) -> Detection:
    return Detection(TWO_WHEELER, score, box, "bicycle")


# Two images. a.jpg: bikes at A and B (B uncertain); detections 0.9 on A (TP), 0.6 on B
# (ignored), 0.4 far away (FP), a person (not scored). b.jpg: bike at C missed, 0.7 FP.
A, B, C = (0, 0, 100, 100), (200, 0, 300, 100), (0, 200, 100, 300)
TRUTH = {"a.jpg": [Truth(A), Truth(B, uncertain=True)], "b.jpg": [Truth(C)]}
DETS = {
    "a.jpg": [
        _d(0.9, (5, 0, 100, 100)),
        _d(0.6, B),
        _d(0.4, (400, 400, 500, 500)),
        Detection(PERSON, 0.9, C),
    ],
    "b.jpg": [_d(0.7, (150, 150, 190, 190))],
}


def test_counts_match_hand_computation() -> None:
    results = [score_image(f, DETS[f], TRUTH[f]) for f in DETS]
    out = report(results, DETS, TRUTH, 0.3)
    assert out["at_threshold"] == {
        "tp": 1,
        "fp": 2,
        "fn": 1,
        "precision": 0.333,
        "recall": 0.5,
        "f1": 0.4,
    }
    a, b = out["per_image"]
    assert a["false_alarms"][0]["box"] == [400, 400, 500, 500]
    assert b["misses"] == [list(C)]
    by_th = dict(sweep(DETS, TRUTH, [0.5, 0.8, 0.95]))
    assert (by_th[0.5].tp, by_th[0.5].fp, by_th[0.5].fn) == (1, 1, 1)  # 0.4 FP gone
    assert (by_th[0.8].tp, by_th[0.8].fp, by_th[0.8].fn) == (1, 0, 1)  # 0.7 FP gone
    assert (by_th[0.95].tp, by_th[0.95].fp, by_th[0.95].fn) == (0, 0, 2)


def test_cli_reports_plots_and_crops(shared_dir: Path, tmp_path: Path) -> None:
    images = shared_dir / "testdata" / "images"
    labels = shared_dir / "testdata" / "labels.json"
    plot, crops = tmp_path / "pr.png", tmp_path / "crops"
    files = [images / "bikeparking_296.png", images / "bikeparking_166.png"]
    cmd = [
        sys.executable,
        "-m",
        "agent.cli",
        "vision",
        "eval",
        "--model",
        str(shared_dir / "models" / "yolox_nano.onnx"),
        "--labels",
        str(labels),
        *map(str, files),
        "--json",
        "--plot",
        str(plot),
        "--crops",
        str(crops),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["images"] == 2 and out["threshold"] == 0.3
    per = {p["file"]: p for p in out["per_image"]}
    # Measured (docs/vision-detector.md): 296 has 2 bikes found and 4 rack coils reported,
    # 166 one missed bike.
    assert (per["bikeparking_296.png"]["tp"], per["bikeparking_296.png"]["fp"]) == (2, 4)
    assert per["bikeparking_166.png"]["fn"] == 1
    at = out["at_threshold"]
    assert (at["tp"], at["fp"], at["fn"]) == (2, 4, 1)
    # The second look (default crop_flip) rejects the four coils and keeps both bikes.
    assert out["verify"] == "crop_flip"
    checked = out["with_verify"]
    assert (checked["tp"], checked["fp"], checked["fn"]) == (2, 0, 1)
    assert len(per["bikeparking_296.png"]["rejected_by_verify"]) == 4
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(list(crops.glob("*.png"))) == 5  # 4 false alarms + 1 miss
    assert {row["threshold"] for row in out["sweep"]} >= {0.3, 0.5}
