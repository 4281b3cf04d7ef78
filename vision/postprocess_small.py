"""The common frame's post-processing in plain Python, after one short numpy pass.

Why a second implementation: right after ``session.run`` the model's weights and
activations have pushed numpy's code and data out of the core's caches, so every numpy
call costs 10-50 us "cold" against 1-3 us warm (measured on the 2-core VM: the objectness
comparison over the 3549 rows took 54 us after an inference, 7 us repeated). The general
path in :mod:`vision.postprocess` makes about a hundred such calls for a typical frame,
most of them on arrays of a few rows. Here a dozen numpy calls reduce the output to the
rows that reach the threshold (usually a handful), and the decode, per-label NMS and
containment run on Python floats.

Same rules and, on every output it accepts, the same decisions as the general path (a
test compares both on real model outputs and on random ones). It declines, returning
``None`` so the caller takes the general path, whenever that equivalence would need care
it does not take: a configured ``class_margin`` (a row claimed by a label that is not its
best class), a tie between two classes for a row's best score, or box terms too large to
be a real box (garbage input, where float32 and float64 overflow differently).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vision.postprocess import FLOOR_TOLERANCE, DecodeSpec
from vision.types import Detection

# Real YOLOX box terms are offsets of a few cells and log-sizes below ~10; beyond this the
# input is garbage, which the general path's float32 arithmetic handles as upstream does.
_MAX_TERM = 1e6
_MAX_LOG_SIZE = 15.0
_UNMAPPED = -1


@dataclass(frozen=True, slots=True)
class SmallTables:
    """Per-detector look-ups in Python form, built once from a :class:`DecodeSpec`."""

    label_of_class: tuple[int, ...]  # class id -> index into spec.groups, or _UNMAPPED
    name_of_class: tuple[str, ...]  # class id -> the model's class name ("" if unmapped)
    grid_x: tuple[float, ...]
    grid_y: tuple[float, ...]
    stride: tuple[float, ...]


def small_tables(spec: DecodeSpec, num_classes: int) -> SmallTables:
    label = [_UNMAPPED] * num_classes
    names = [""] * num_classes
    for g, group in enumerate(spec.groups):
        for class_id, name in zip(group.class_ids, group.source_names, strict=True):
            label[class_id], names[class_id] = g, name
    xy = spec.grid.xy.astype(np.float64)
    return SmallTables(
        label_of_class=tuple(label),
        name_of_class=tuple(names),
        grid_x=tuple(xy[:, 0].tolist()),
        grid_y=tuple(xy[:, 1].tolist()),
        stride=tuple(spec.grid.stride[:, 0].astype(np.float64).tolist()),
    )


_Row = tuple[float, float, float, float, float, int]  # x1, y1, x2, y2 (model px / r), score, class


def _rows_over_threshold(
    rows: npt.NDArray[np.float32], spec: DecodeSpec
) -> tuple[list[int], list[int], list[float], list[list[float]]] | None:
    """Anchor index, best class, best score and box terms of every row at the threshold.

    As few numpy calls as will do (each costs a cache refill after an inference): the rows
    whose objectness reaches the threshold (tens of 3549) go to Python lists at once.
    """
    live = np.flatnonzero(rows[:, 4] >= spec.score_threshold)
    if live.size == 0:
        return [], [], [], []
    kept = rows[live]
    with np.errstate(over="ignore", invalid="ignore"):
        scores = kept[:, 5:] * kept[:, 4:5]
    best = scores.max(axis=1)
    # A tie for the best score would make the row count for both classes (general path).
    ties = np.count_nonzero(scores == best[:, None], axis=1).tolist()
    threshold = spec.score_threshold
    out: tuple[list[int], list[int], list[float], list[list[float]]] = ([], [], [], [])
    for anchor, cls, score, count, terms in zip(
        live.tolist(),
        scores.argmax(axis=1).tolist(),
        best.tolist(),
        ties,
        kept[:, :4].tolist(),
        strict=True,
    ):
        if score >= threshold:
            if count != 1:
                return None
            out[0].append(anchor)
            out[1].append(cls)
            out[2].append(score)
            out[3].append(terms)
    return out


def _decode(
    anchors: list[int], terms: list[list[float]], ratio: float, tables: SmallTables
) -> list[tuple[float, float, float, float]] | None:
    boxes = []
    lo, hi = -_MAX_LOG_SIZE, _MAX_LOG_SIZE
    for anchor, (tx, ty, tw, th) in zip(anchors, terms, strict=True):
        if not (-_MAX_TERM < tx < _MAX_TERM and -_MAX_TERM < ty < _MAX_TERM):
            return None
        s = tables.stride[anchor]
        cx, cy = (tx + tables.grid_x[anchor]) * s, (ty + tables.grid_y[anchor]) * s
        # Chained comparisons, not min/max: this loop runs right after an inference, when
        # every extra call is a cache miss (the box terms are finite here: see the caller).
        hw = math.exp(lo if tw < lo else hi if tw > hi else tw) * s / 2
        hh = math.exp(lo if th < lo else hi if th > hi else th) * s / 2
        boxes.append(((cx - hw) / ratio, (cy - hh) / ratio, (cx + hw) / ratio, (cy + hh) / ratio))
    return boxes


def _nms(pool: list[_Row], labelled: int, limit: float) -> list[_Row]:
    """Greedy NMS over ``pool``; the first ``labelled`` rows are the label's, the rest suppress.

    Upstream's overlap with ``+1`` pixel areas; a row is dropped when its IoU with a kept
    row is not ``<= limit`` (as the general path). Order as ``argsort(kind="stable")[::-1]``:
    score descending, and among equal scores the later row first.
    """
    order = sorted(range(len(pool)), key=lambda i: (pool[i][4], i), reverse=True)
    kept: list[tuple[float, float, float, float, float]] = []  # x1, y1, x2, y2, area
    chosen: list[int] = []
    for i in order:
        x1, y1, x2, y2 = pool[i][:4]
        area = (x2 - x1 + 1) * (y2 - y1 + 1)
        for kx1, ky1, kx2, ky2, karea in kept:
            w = (kx2 if kx2 < x2 else x2) - (kx1 if kx1 > x1 else x1) + 1
            h = (ky2 if ky2 < y2 else y2) - (ky1 if ky1 > y1 else y1) + 1
            inter = (w if w > 0.0 else 0.0) * (h if h > 0.0 else 0.0)
            if not inter / (karea + area - inter) <= limit:
                break
        else:
            kept.append((x1, y1, x2, y2, area))
            chosen.append(i)
    return [pool[i] for i in chosen if i < labelled]


def _without_parts(boxes: list[_Row], fraction: float) -> list[_Row]:
    """Drop a box lying ``fraction`` inside a larger one on its floor line (general path)."""

    def area(b: _Row) -> float:
        return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])

    def part_of(a: _Row, b: _Row) -> bool:
        iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        area_a = area(a)
        inside = iw * ih / area_a if area_a > 0 else math.nan
        floor = abs(a[3] - b[3]) <= FLOOR_TOLERANCE * (b[3] - b[1])
        return inside >= fraction and area(b) > area_a and floor

    return [a for a in boxes if not any(part_of(a, b) for b in boxes if b is not a)]


def postprocess_small(
    rows: npt.NDArray[np.float32],
    ratio: float,
    spec: DecodeSpec,
    tables: SmallTables,
    image_wh: tuple[float, float],
    offset: tuple[float, float],
) -> list[Detection] | None:
    """As :func:`vision.postprocess.postprocess` on checked ``(N, 5 + C)`` rows, or ``None``."""
    if spec.class_margin != 0.0:
        return None
    found = _rows_over_threshold(rows, spec)
    if found is None:
        return None
    anchors, classes, scores, terms = found
    if not all(math.isfinite(score) for score in scores):
        return None
    boxes = _decode(anchors, terms, ratio, tables)
    if boxes is None:
        return None
    by_label: list[list[_Row]] = [[] for _ in spec.groups]
    suppressors: list[_Row] = []
    for box, score, class_id in zip(boxes, scores, classes, strict=True):
        row: _Row = (*box, score, class_id)
        g = tables.label_of_class[class_id]
        (suppressors if g == _UNMAPPED else by_label[g]).append(row)
    w_img, h_img = image_wh
    detections: list[Detection] = []
    for group, own in zip(spec.groups, by_label, strict=True):
        if not own:
            continue
        kept = _nms(own + suppressors, len(own), spec.nms_iou)
        if len(kept) > 1 and spec.contain < 1.0:
            kept = _without_parts(kept, spec.contain)
        for x1, y1, x2, y2, score, class_id in kept:
            cx1, cy1 = min(max(x1, 0.0), w_img), min(max(y1, 0.0), h_img)
            cx2, cy2 = min(max(x2, 0.0), w_img), min(max(y2, 0.0), h_img)
            if cx2 > cx1 and cy2 > cy1:
                box = (cx1 + offset[0], cy1 + offset[1], cx2 + offset[0], cy2 + offset[1])
                detections.append(
                    Detection(group.label, score, box, tables.name_of_class[class_id])
                )
    return detections
