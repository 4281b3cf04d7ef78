"""YOLOX output decoding, class merging and NMS in plain numpy (no onnxruntime, no OpenCV).

Follows upstream ``demo_postprocess`` and ``multiclass_nms`` as recorded in
``shared/models/PROVENANCE.md``, with one deliberate change: classes that the config maps
to the same output label (bicycle and motorcycle -> ``two_wheeler``) are merged *before*
NMS by taking, per anchor row, the best ``objectness * class_score`` among them, and NMS
runs per output label. A bike the model calls "bicycle" in one anchor and "motorcycle" in
the next is then one box, not two, and a rider's person box never removes their bike.
Unmapped classes keep the one effect they have upstream: a box whose best class is, say,
"bench" suppresses weaker overlapping boxes (this is what keeps bike racks quiet).
NMS is greedy, with upstream's ``+1`` pixel areas.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vision.types import Detection

STRIDES: tuple[int, ...] = (8, 16, 32)

# exp() of a raw width/height term above this is a box millions of pixels wide; clamping
# keeps garbage input finite without changing any real box after clipping.
_MAX_LOG_SIZE = 15.0

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Grid:
    """Anchor-point offsets and strides for one input size, computed once."""

    xy: FloatArray  # (N, 2) grid x, y per anchor row
    stride: FloatArray  # (N, 1)

    @property
    def rows(self) -> int:
        return int(self.xy.shape[0])


def make_grid(input_hw: tuple[int, int], strides: tuple[int, ...] = STRIDES) -> Grid:
    """Grids in output-row order: stride 8, 16, 32; y outer, x inner within a level."""
    xys: list[npt.NDArray[np.float32]] = []
    sts: list[npt.NDArray[np.float32]] = []
    for s in strides:
        hs, ws = input_hw[0] // s, input_hw[1] // s
        xv, yv = np.meshgrid(np.arange(ws), np.arange(hs))
        xy = np.stack((xv, yv), axis=2).reshape(-1, 2).astype(np.float32)
        xys.append(xy)
        sts.append(np.full((xy.shape[0], 1), s, dtype=np.float32))
    return Grid(xy=np.concatenate(xys), stride=np.concatenate(sts))


@dataclass(frozen=True, slots=True)
class LabelGroup:
    """One output label and the model class ids merged into it."""

    label: str
    class_ids: tuple[int, ...]
    source_names: tuple[str, ...]  # the model's name for each class id, same order


def make_label_groups(
    class_map: dict[int, str], source_names: dict[int, str], num_classes: int
) -> tuple[LabelGroup, ...]:
    """Group class ids by output label, in order of first appearance of each label."""
    grouped: dict[str, list[int]] = {}
    for class_id, label in sorted(class_map.items()):
        if not 0 <= class_id < num_classes:
            raise ValueError(
                f"class_map id {class_id} ({label!r}) is outside the model's {num_classes} classes"
            )
        grouped.setdefault(label, []).append(class_id)
    return tuple(
        LabelGroup(
            label=label,
            class_ids=tuple(ids),
            source_names=tuple(source_names.get(i, f"class_{i}") for i in ids),
        )
        for label, ids in grouped.items()
    )


def decode_boxes(raw: FloatArray, grid: Grid) -> FloatArray:
    """Raw ``[tx, ty, tw, th, ...]`` rows -> ``(N, 4)`` x1, y1, x2, y2 in model pixels."""
    with np.errstate(over="ignore", invalid="ignore"):
        centre = (raw[:, 0:2] + grid.xy) * grid.stride
        size = np.exp(np.clip(raw[:, 2:4], -_MAX_LOG_SIZE, _MAX_LOG_SIZE)) * grid.stride
        half = size / 2
        return np.concatenate((centre - half, centre + half), axis=1)


def nms(boxes: npt.NDArray[np.floating], scores: npt.NDArray[np.floating], iou: float) -> list[int]:
    """Greedy NMS as upstream ``yolox/utils/demo_utils.py::nms``; returns kept indices."""
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort(kind="stable")[::-1]
    keep: list[int] = []
    while order.size > 0:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(x1[i], x1[rest])
        yy1 = np.maximum(y1[i], y1[rest])
        xx2 = np.minimum(x2[i], x2[rest])
        yy2 = np.minimum(y2[i], y2[rest])
        w = np.maximum(0.0, xx2 - xx1 + 1)
        h = np.maximum(0.0, yy2 - yy1 + 1)
        inter = w * h
        ovr = inter / (areas[i] + areas[rest] - inter)
        # Rows with a NaN overlap (degenerate boxes) are dropped like suppressed ones.
        order = rest[ovr <= iou]
    return keep


def postprocess(
    raw: npt.NDArray[np.floating],
    ratio: float,
    *,
    grid: Grid,
    groups: tuple[LabelGroup, ...],
    score_threshold: float,
    nms_iou: float,
    image_wh: tuple[float, float],
    offset: tuple[float, float] = (0.0, 0.0),
) -> list[Detection]:
    """Model output -> detections in image pixels, best score first within each label.

    ``raw`` is ``(1, N, 5 + C)`` or ``(N, 5 + C)``. Per row, each output label scores the
    best ``objectness * class_score`` among its classes (the merge). NMS then runs once per
    label over that label's rows at or above ``score_threshold``, so a person never
    suppresses the bike they stand beside. Rows whose best class is not mapped to any
    label (e.g. COCO "bench") join every label's NMS as suppressors only, as they would in
    upstream's class-agnostic NMS: a bike rack the model rates more "bench" than
    "bicycle" does not become a two-wheeler. Boxes are divided by ``ratio``, clipped to
    ``image_wh`` (the image the model saw) and shifted by ``offset`` (a crop's origin).
    Non-finite rows are dropped, so garbage input yields no detections, not an exception.
    """
    rows = raw.reshape(-1, raw.shape[-1]) if raw.ndim == 3 else raw
    if rows.ndim != 2 or rows.shape[0] != grid.rows or rows.shape[1] < 6:
        raise ValueError(f"model output has shape {raw.shape}, expected (1, {grid.rows}, 5+C)")
    if not (np.isfinite(ratio) and ratio > 0):
        raise ValueError(f"ratio must be a positive number, got {ratio}")
    rows = rows.astype(np.float32, copy=False)
    num_classes = rows.shape[1] - 5
    # Objectness and class scores are probabilities (sigmoids inside the graph), so a row
    # whose objectness is below the threshold cannot score above it: skip it early. This
    # leaves tens of rows out of 3549 on a typical frame.
    live = np.flatnonzero(rows[:, 4] >= score_threshold)
    rows = rows[live]
    live_grid = Grid(xy=grid.xy[live], stride=grid.stride[live])
    with np.errstate(over="ignore", invalid="ignore"):
        class_scores = rows[:, 4:5] * rows[:, 5:]  # (live rows, C)
    label_scores: list[FloatArray] = []
    label_best: list[npt.NDArray[np.intp]] = []
    mapped = np.zeros(num_classes, dtype=bool)
    for group in groups:
        ids = [c for c in group.class_ids if c < num_classes]
        if not ids:
            raise ValueError(f"label {group.label!r} maps to classes beyond the output width")
        mapped[ids] = True
        per_class = class_scores[:, ids]
        label_best.append(per_class.argmax(axis=1))
        label_scores.append(per_class.max(axis=1))
    suppressors = np.empty(0, dtype=np.intp)
    other_scores = np.empty(0, dtype=np.float32)
    if label_scores and not mapped.all() and rows.shape[0]:
        best_mapped = np.max(np.stack(label_scores), axis=0)
        other = class_scores[:, ~mapped].max(axis=1)
        suppressors = np.flatnonzero((other >= score_threshold) & (other > best_mapped))
        other_scores = other[suppressors]

    detections: list[Detection] = []
    boxes_all: FloatArray | None = None
    w_img, h_img = image_wh
    dx, dy = offset
    for group, scores, best in zip(groups, label_scores, label_best, strict=True):
        candidates = np.flatnonzero(scores >= score_threshold)
        if candidates.size == 0:
            continue
        if boxes_all is None:
            boxes_all = decode_boxes(rows, live_grid)
        pool = np.concatenate((candidates, suppressors))
        boxes = boxes_all[pool].astype(np.float64) / ratio
        pool_scores = np.concatenate((scores[candidates], other_scores)).astype(np.float64)
        is_label = np.arange(pool.size) < candidates.size
        finite = np.isfinite(boxes).all(axis=1) & np.isfinite(pool_scores)
        pool, boxes, pool_scores, is_label = (
            pool[finite],
            boxes[finite],
            pool_scores[finite],
            is_label[finite],
        )
        for k in nms(boxes, pool_scores, nms_iou):
            if not is_label[k]:
                continue
            x1, y1, x2, y2 = np.clip(boxes[k], 0.0, [w_img, h_img, w_img, h_img])
            if x2 <= x1 or y2 <= y1:
                continue
            detections.append(
                Detection(
                    label=group.label,
                    score=float(pool_scores[k]),
                    box=(float(x1 + dx), float(y1 + dy), float(x2 + dx), float(y2 + dy)),
                    source_class=group.source_names[int(best[pool[k]])],
                )
            )
    return detections
