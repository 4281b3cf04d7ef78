"""YOLOX output decoding, class merging and NMS in plain numpy (no onnxruntime, no OpenCV).

Follows upstream ``demo_postprocess`` and ``multiclass_nms`` as recorded in
``shared/models/PROVENANCE.md``. Like upstream, an anchor row belongs to its *best* class:
a row counts for ``two_wheeler`` only where bicycle or motorcycle is its highest class
(optionally within ``class_margin`` of it, off by default). Scoring every row by its
bicycle score even where "chair" or "person" was the row's best class is what turned a
wheelchair into a 0.75 "two_wheeler" while upstream's rule gives it 0.09 (issue 12).

Three deliberate changes from upstream, each with its reason:

* Classes mapped to one output label (bicycle and motorcycle -> ``two_wheeler``) are merged
  before NMS, and NMS runs per output label: a bike the model calls "bicycle" in one anchor
  and "motorcycle" in the next is one box, and a rider's person box never removes the bike.
* Rows whose best class is unmapped ("bench", "chair") join every label's NMS as
  suppressors only, as in upstream's class-agnostic NMS (this keeps bike racks quiet).
* Containment: a kept box lying at least ``CONTAIN_FRACTION`` inside a larger kept box of
  the same label, with its bottom edge on the larger box's floor line (within
  ``FLOOR_TOLERANCE`` of its height), is dropped. YOLOX often fires a second anchor on a
  front wheel or a rear half; IoU with the whole bike is then below the NMS threshold
  (the part is small), so NMS keeps both and one bike becomes two reports. The floor-line
  condition keeps a second bike parked behind the first: it lies inside the first bike's
  box too, but stands higher in the image (on the shared photos, two such real bikes sat
  86 % and 93 % inside a nearer bike's box, 0.4-0.6 box heights above its bottom, while
  the partial box sat 100 % inside and 0.09 above). A part of a bike that is not inside
  the whole one (a rear half beside a front-half box) is not caught by this rule.

NMS is greedy, with upstream's ``+1`` pixel areas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vision.types import Detection

STRIDES: tuple[int, ...] = (8, 16, 32)

# exp() of a raw width/height term above this is a box millions of pixels wide; clamping
# keeps garbage input finite without changing any real box after clipping.
_MAX_LOG_SIZE = 15.0

FloatArray = npt.NDArray[np.float32]

# A same-label box this much inside a larger kept box is a part of it (see above).
CONTAIN_FRACTION = 0.8
# ... and whose bottom edge is within this share of the larger box's height of its bottom.
FLOOR_TOLERANCE = 0.12


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
    """Greedy NMS as upstream ``yolox/utils/demo_utils.py::nms``; returns kept indices.

    Same decisions as upstream (a test compares them), but the overlaps are computed once
    as a matrix, so the loop does one numpy operation per kept box instead of ten.
    """
    if len(scores) < 2:  # nothing to suppress (the caller has dropped non-finite rows)
        return list(range(len(scores)))
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    w = np.maximum(0.0, np.minimum(x2[:, None], x2) - np.maximum(x1[:, None], x1) + 1)
    h = np.maximum(0.0, np.minimum(y2[:, None], y2) - np.maximum(y1[:, None], y1) + 1)
    inter = w * h
    with np.errstate(invalid="ignore", divide="ignore"):
        # Rows with a NaN overlap (degenerate boxes) are dropped like suppressed ones.
        suppresses = ~(inter / (areas[:, None] + areas[None, :] - inter) <= iou)
    removed = np.zeros(len(areas), dtype=bool)
    keep: list[int] = []
    for i in scores.argsort(kind="stable")[::-1].tolist():
        if removed[i]:
            continue
        keep.append(i)
        removed |= suppresses[i]
    return keep


@dataclass(frozen=True, slots=True)
class DecodeSpec:
    """Everything postprocessing needs besides the model output, fixed per detector."""

    grid: Grid
    groups: tuple[LabelGroup, ...]
    score_threshold: float
    nms_iou: float
    class_margin: float = 0.0  # a label may claim a row within this of the row's best
    contain: float = CONTAIN_FRACTION


def check_output(raw: npt.NDArray[np.floating], ratio: float, spec: DecodeSpec) -> FloatArray:
    """The output as ``(N, 5 + C)`` float32 rows; ValueError for a wrong shape or ratio."""
    rows = raw.reshape(-1, raw.shape[-1]) if raw.ndim == 3 else raw
    if rows.ndim != 2 or rows.shape[0] != spec.grid.rows or rows.shape[1] < 6:
        raise ValueError(f"model output has shape {raw.shape}, expected (1, {spec.grid.rows}, 5+C)")
    if not (math.isfinite(ratio) and ratio > 0):
        raise ValueError(f"ratio must be a positive number, got {ratio}")
    for group in spec.groups:
        if max(group.class_ids) >= rows.shape[1] - 5:
            raise ValueError(f"label {group.label!r} maps to classes beyond the output width")
    checked: FloatArray = rows.astype(np.float32, copy=False)
    return checked


@dataclass(slots=True)
class _Rows:
    """The live rows of one output: scores per class, best class, decoded boxes."""

    rows: FloatArray
    grid: Grid
    class_scores: FloatArray  # (live, C) objectness * class score
    best: FloatArray  # (live,) the row's best class score

    def boxes(self) -> FloatArray:
        return decode_boxes(self.rows, self.grid)


def _live_rows(rows: FloatArray, spec: DecodeSpec) -> _Rows:
    # Objectness and class scores are probabilities (sigmoids inside the graph), so a row
    # whose objectness is below the threshold cannot score above it: skip it early. This
    # leaves tens of rows out of 3549 on a typical frame.
    live = np.flatnonzero(rows[:, 4] >= spec.score_threshold)
    kept = rows[live]
    with np.errstate(over="ignore", invalid="ignore"):
        class_scores = kept[:, 4:5] * kept[:, 5:]
    best = class_scores.max(axis=1) if kept.shape[0] else np.empty(0, np.float32)
    grid = Grid(xy=spec.grid.xy[live], stride=spec.grid.stride[live])
    return _Rows(kept, grid, class_scores, best)


def _suppressors(live: _Rows, spec: DecodeSpec) -> npt.NDArray[np.intp]:
    """Rows whose best class is not mapped to any label, at or above the threshold."""
    mapped = sorted({i for group in spec.groups for i in group.class_ids})
    if len(mapped) == live.class_scores.shape[1] or live.rows.shape[0] == 0:
        return np.empty(0, dtype=np.intp)
    # The best unmapped score beats every mapped one exactly when the row's best does.
    best_mapped = live.class_scores[:, mapped].max(axis=1)
    return np.flatnonzero((live.best >= spec.score_threshold) & (live.best > best_mapped))


def _contained(boxes: npt.NDArray[np.float64], fraction: float) -> npt.NDArray[np.bool_]:
    """Which boxes lie at least ``fraction`` inside a larger box of the set (vectorised)."""
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.maximum(0.0, x2 - x1) * np.maximum(0.0, y2 - y1)
    iw = np.maximum(0.0, np.minimum(x2[:, None], x2) - np.maximum(x1[:, None], x1))
    ih = np.maximum(0.0, np.minimum(y2[:, None], y2) - np.maximum(y1[:, None], y1))
    with np.errstate(invalid="ignore", divide="ignore"):
        inside = (iw * ih) / areas[:, None]  # [i, j]: share of box i inside box j
    larger = areas[None, :] > areas[:, None]
    # A part of a bike stands on the bike's floor line (wheels touch the ground); a second
    # bike further back stands higher in the image and is kept.
    same_floor = np.abs(y2[:, None] - y2[None, :]) <= FLOOR_TOLERANCE * (y2 - y1)[None, :]
    hit: npt.NDArray[np.bool_] = ((inside >= fraction) & larger & same_floor).any(axis=1)
    return hit


def _label_detections(
    live: _Rows,
    boxes_all: FloatArray,
    suppressors: npt.NDArray[np.intp],
    group: LabelGroup,
    spec: DecodeSpec,
    ratio: float,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], list[str]]:
    """NMS and containment for one label: boxes (model input / ratio), scores, class names."""
    per_class = live.class_scores[:, list(group.class_ids)]
    scores = per_class.max(axis=1)
    own = (scores >= spec.score_threshold) & (scores >= live.best - spec.class_margin)
    candidates = np.flatnonzero(own)
    if candidates.size == 0:  # suppressors alone report nothing: skip the NMS
        return np.empty((0, 4)), np.empty(0), []
    # A row this label claims within the margin does not also suppress itself.
    suppressors = suppressors[~own[suppressors]]
    pool = np.concatenate((candidates, suppressors))
    boxes = boxes_all[pool].astype(np.float64) / ratio
    pool_scores = np.concatenate((scores[candidates], live.best[suppressors])).astype(np.float64)
    is_label = np.arange(pool.size) < candidates.size
    finite = np.isfinite(boxes).all(axis=1) & np.isfinite(pool_scores)
    pool, boxes, pool_scores, is_label = (
        pool[finite],
        boxes[finite],
        pool_scores[finite],
        is_label[finite],
    )
    keep = np.asarray([k for k in nms(boxes, pool_scores, spec.nms_iou) if is_label[k]], np.intp)
    boxes, pool_scores, pool = boxes[keep], pool_scores[keep], pool[keep]
    if keep.size > 1 and spec.contain < 1.0:
        whole = ~_contained(boxes, spec.contain)
        boxes, pool_scores, pool = boxes[whole], pool_scores[whole], pool[whole]
    names = [group.source_names[int(i)] for i in per_class[pool].argmax(axis=1)]
    return boxes, pool_scores, names


def postprocess(
    raw: npt.NDArray[np.floating],
    ratio: float,
    spec: DecodeSpec,
    image_wh: tuple[float, float],
    offset: tuple[float, float] = (0.0, 0.0),
) -> list[Detection]:
    """Model output -> detections in image pixels, best score first within each label.

    ``raw`` is ``(1, N, 5 + C)`` or ``(N, 5 + C)``. A row counts for a label when that
    label's best ``objectness * class_score`` is the row's best class score (within
    ``spec.class_margin``) and reaches ``spec.score_threshold``. NMS then runs per label
    over its rows plus the rows whose best class is unmapped (suppressors only), and a box
    contained in a larger kept box of the same label is dropped (see the module docstring).
    Boxes are divided by ``ratio``, clipped to ``image_wh`` (the image the model saw) and
    shifted by ``offset`` (a crop's origin). Non-finite rows are dropped, so garbage input
    yields no detections, not an exception.
    """
    return postprocess_rows(check_output(raw, ratio, spec), ratio, spec, image_wh, offset)


def postprocess_rows(
    rows: FloatArray,
    ratio: float,
    spec: DecodeSpec,
    image_wh: tuple[float, float],
    offset: tuple[float, float] = (0.0, 0.0),
) -> list[Detection]:
    """:func:`postprocess` on rows :func:`check_output` has checked."""
    live = _live_rows(rows, spec)
    if live.rows.shape[0] == 0:
        return []
    suppressors = _suppressors(live, spec)
    boxes_all = live.boxes()
    w_img, h_img = image_wh
    limit = np.asarray([w_img, h_img, w_img, h_img])
    shift = np.asarray([offset[0], offset[1], offset[0], offset[1]])
    detections: list[Detection] = []
    for group in spec.groups:
        boxes, scores, names = _label_detections(live, boxes_all, suppressors, group, spec, ratio)
        clipped = np.clip(boxes, 0.0, limit)
        ok = (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
        for box, score, name in zip(
            (clipped + shift)[ok].tolist(),
            scores[ok].tolist(),
            np.asarray(names)[ok].tolist(),
            strict=True,
        ):
            detections.append(Detection(group.label, float(score), tuple(box), str(name)))
    return detections
