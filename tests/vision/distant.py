"""The "distant bikes" set: the shared photos shrunk into a large frame (test support).

Each labelled photo with at least one two-wheeler is scaled by ``SCALE`` and pasted into a
``CANVAS`` grey 1920x1080 frame, as a bike 3x further down a corridor would appear to a
Full-HD camera; the zone is drawn on the pasted photo's floor (its lower two thirds). Used
by the zone-focused inference test and by the measurement in docs/vision.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vision.evaluate import Truth

CANVAS = (1080, 1920)
SCALE = 1 / 3
ORIGIN = (1100, 560)  # where the photo's top-left lands (x, y)


@dataclass
class DistantImage:
    file: str
    frame: np.ndarray
    truth: list[Truth]
    zone: list[tuple[float, float]]  # normalised polygon


def distant_set(shared: Path) -> list[DistantImage]:
    data = json.loads((shared / "testdata" / "labels.json").read_text())
    out: list[DistantImage] = []
    ox, oy = ORIGIN
    for entry in data["images"]:
        if not entry["two_wheelers"]:
            continue
        image = cv2.imread(str(shared / "testdata" / "images" / entry["file"]))
        h, w = image.shape[:2]
        sw, sh = round(w * SCALE), round(h * SCALE)
        frame = np.full((*CANVAS, 3), 114, dtype=np.uint8)
        frame[oy : oy + sh, ox : ox + sw] = cv2.resize(
            image, (sw, sh), interpolation=cv2.INTER_AREA
        )
        truth = [
            Truth(
                tuple(v * SCALE + (ox if i % 2 == 0 else oy) for i, v in enumerate(b["box"])),  # type: ignore[arg-type]
                bool(b["uncertain"]),
            )
            for b in entry["two_wheelers"]
        ]
        ch, cw = CANVAS
        x1, x2, y1, y2 = ox / cw, (ox + sw) / cw, (oy + sh / 3) / ch, (oy + sh) / ch
        out.append(
            DistantImage(entry["file"], frame, truth, [(x1, y1), (x2, y1), (x2, y2), (x1, y2)])
        )
    return out
