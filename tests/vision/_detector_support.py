"""Helpers shared by the detector tests (model config, hand-made model outputs)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from tests.shared_data import MODEL_SHA256
from vision.model_config import ModelConfig
from vision.postprocess import Grid

BICYCLE, MOTORCYCLE, PERSON_ID, BENCH, CHAIR_ID = 1, 3, 0, 13, 56


def model_config(shared_dir: Path, **overrides: Any) -> ModelConfig:
    values: dict[str, Any] = {
        "path": shared_dir / "models" / "yolox_nano.onnx",
        "sha256": MODEL_SHA256,
    }
    values.update(overrides)
    return ModelConfig(**values)


def empty_output(grid: Grid, num_classes: int = 80) -> np.ndarray:
    """A raw output in which nothing scores: every objectness is 0."""
    return np.zeros((1, grid.rows, 5 + num_classes), dtype=np.float32)


def anchor_for(grid: Grid, cx: float, cy: float, stride: int) -> int:
    """Index of the anchor row of ``stride`` whose cell contains (cx, cy) in model pixels."""
    rows = np.flatnonzero(grid.stride[:, 0] == stride)
    cells = grid.xy[rows]
    gx, gy = math.floor(cx / stride), math.floor(cy / stride)
    hit = np.flatnonzero((cells[:, 0] == gx) & (cells[:, 1] == gy))
    return int(rows[hit[0]])


def put_box(
    raw: np.ndarray,
    grid: Grid,
    box: tuple[float, float, float, float],
    scores: dict[int, float],
    *,
    stride: int = 16,
    objectness: float = 1.0,
) -> int:
    """Write one anchor row that decodes to ``box`` (model pixels) with class ``scores``.

    Uses a free anchor in the box's cell (or a neighbour) so several boxes can coexist.
    """
    x1, y1, x2, y2 = box
    cx, cy, w, h = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
    row = anchor_for(grid, cx, cy, stride)
    while raw[0, row, 4] != 0:  # taken: use the next anchor, same stride
        row += 1
    gx, gy = grid.xy[row]
    s = float(grid.stride[row, 0])
    raw[0, row, 0] = cx / s - gx
    raw[0, row, 1] = cy / s - gy
    raw[0, row, 2] = math.log(w / s)
    raw[0, row, 3] = math.log(h / s)
    raw[0, row, 4] = objectness
    for class_id, score in scores.items():
        raw[0, row, 5 + class_id] = score
    return row


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
