"""Decoding, class merging and NMS on hand-made model outputs (no onnxruntime session)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.vision._detector_support import (
    BENCH,
    BICYCLE,
    MOTORCYCLE,
    PERSON_ID,
    empty_output,
    put_box,
)
from vision.model_config import DEFAULT_CLASS_MAP, DEFAULT_SOURCE_NAMES
from vision.postprocess import (
    DecodeSpec,
    decode_boxes,
    make_grid,
    make_label_groups,
    nms,
    postprocess,
)
from vision.types import PERSON, TWO_WHEELER

GRID = make_grid((416, 416))
GROUPS = make_label_groups(DEFAULT_CLASS_MAP, DEFAULT_SOURCE_NAMES, 80)


def run(raw: np.ndarray, ratio: float = 1.0, **kw: object) -> list:
    args: dict = {
        "grid": GRID,
        "groups": GROUPS,
        "score_threshold": 0.3,
        "nms_iou": 0.45,
    }
    args.update(kw)
    image_wh = args.pop("image_wh", None) or (416.0 / ratio, 416.0 / ratio)
    offset = args.pop("offset", (0.0, 0.0))
    return postprocess(raw, ratio, DecodeSpec(**args), image_wh, offset)


def test_grid_order_matches_upstream() -> None:
    assert GRID.rows == 52 * 52 + 26 * 26 + 13 * 13 == 3549
    # stride 8 first, row-major (y outer, x inner) within a level
    assert GRID.xy[:3].tolist() == [[0, 0], [1, 0], [2, 0]]
    assert GRID.xy[52].tolist() == [0, 1]
    assert GRID.stride[52 * 52, 0] == 16 and GRID.xy[52 * 52].tolist() == [0, 0]
    assert GRID.stride[-1, 0] == 32 and GRID.xy[-1].tolist() == [12, 12]


def test_decode_matches_upstream_formula() -> None:
    raw = np.zeros((GRID.rows, 85), dtype=np.float32)
    raw[60] = 0
    raw[60, :4] = [0.5, 0.25, np.log(2.0), 0.0]  # stride 8, grid (8, 1)
    x1, y1, x2, y2 = decode_boxes(raw, GRID)[60]
    cx, cy, w, h = (0.5 + 8) * 8, (0.25 + 1) * 8, 2.0 * 8, 1.0 * 8
    assert (x1, y1, x2, y2) == pytest.approx((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))


def test_bicycle_and_motorcycle_boxes_on_one_bike_become_one_two_wheeler() -> None:
    raw = empty_output(GRID)
    put_box(raw, GRID, (100, 100, 200, 180), {BICYCLE: 0.8})
    put_box(raw, GRID, (104, 102, 204, 184), {MOTORCYCLE: 0.7})
    found = run(raw)
    assert len(found) == 1
    only = found[0]
    assert only.label == TWO_WHEELER and only.source_class == "bicycle"
    assert only.score == pytest.approx(0.8)
    assert only.box == pytest.approx((100, 100, 200, 180), abs=1e-3)


def test_merge_takes_the_best_class_per_row_and_names_it() -> None:
    raw = empty_output(GRID)
    put_box(raw, GRID, (50, 50, 150, 150), {BICYCLE: 0.4, MOTORCYCLE: 0.6}, objectness=0.9)
    (only,) = run(raw)
    assert only.source_class == "motorcycle"
    assert only.score == pytest.approx(0.9 * 0.6)


def test_score_is_objectness_times_class_and_threshold_applies() -> None:
    raw = empty_output(GRID)
    put_box(raw, GRID, (50, 50, 150, 150), {BICYCLE: 0.9}, objectness=0.3)  # 0.27 < 0.3
    assert run(raw) == []
    assert len(run(raw, score_threshold=0.25)) == 1


def test_person_never_suppresses_the_bike_it_rides() -> None:
    raw = empty_output(GRID)
    put_box(raw, GRID, (100, 60, 200, 200), {PERSON_ID: 0.9})
    put_box(raw, GRID, (100, 80, 200, 200), {BICYCLE: 0.6})
    labels = sorted(d.label for d in run(raw))
    assert labels == [PERSON, TWO_WHEELER]


def test_unmapped_class_suppresses_weaker_overlap_but_is_not_reported() -> None:
    raw = empty_output(GRID)
    put_box(raw, GRID, (100, 100, 300, 200), {BENCH: 0.5, BICYCLE: 0.1})
    put_box(raw, GRID, (102, 100, 300, 204), {BICYCLE: 0.35})
    assert run(raw) == []  # the rack is more "bench" than "bicycle", as upstream NMS decides

    raw = empty_output(GRID)
    put_box(raw, GRID, (100, 100, 300, 200), {BENCH: 0.32})
    put_box(raw, GRID, (102, 100, 300, 204), {BICYCLE: 0.6})
    (only,) = run(raw)
    assert only.label == TWO_WHEELER and only.score == pytest.approx(0.6)


def test_separate_bikes_are_all_kept_best_first() -> None:
    raw = empty_output(GRID)
    put_box(raw, GRID, (10, 10, 90, 90), {BICYCLE: 0.5})
    put_box(raw, GRID, (200, 200, 300, 300), {MOTORCYCLE: 0.9})
    found = run(raw)
    assert [round(d.score, 2) for d in found] == [0.9, 0.5]


def test_boxes_are_divided_by_ratio_clipped_and_offset() -> None:
    raw = empty_output(GRID)
    put_box(raw, GRID, (200, 100, 440, 300), {BICYCLE: 0.9})  # runs past the right edge
    ratio = 0.5  # the image was 832 px wide, shown to the model at half size
    (only,) = run(raw, ratio=ratio, image_wh=(832.0, 600.0), offset=(1000.0, 20.0))
    x1, y1, x2, y2 = only.box
    assert (x1, y1) == pytest.approx((1000 + 400, 20 + 200), abs=1e-2)
    assert x2 == pytest.approx(1000 + 832)  # clipped to the image, then offset
    assert y2 == pytest.approx(20 + 600, abs=1e-2)


def test_output_shape_is_checked() -> None:
    with pytest.raises(ValueError, match="expected"):
        run(np.zeros((1, 100, 85), dtype=np.float32))
    with pytest.raises(ValueError, match="ratio"):
        run(empty_output(GRID), ratio=0.0, image_wh=(416.0, 416.0))


def test_class_map_beyond_model_classes_is_rejected() -> None:
    with pytest.raises(ValueError, match="outside the model's 80 classes"):
        make_label_groups({85: "two_wheeler"}, {}, 80)


def _upstream_nms(boxes: np.ndarray, scores: np.ndarray, nms_thr: float) -> list[int]:
    """yolox/utils/demo_utils.py::nms, verbatim apart from names."""
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(int(i))
        xx1 = np.maximum(x1[i], x1[order[1:]])
        yy1 = np.maximum(y1[i], y1[order[1:]])
        xx2 = np.minimum(x2[i], x2[order[1:]])
        yy2 = np.minimum(y2[i], y2[order[1:]])
        w = np.maximum(0.0, xx2 - xx1 + 1)
        h = np.maximum(0.0, yy2 - yy1 + 1)
        inter = w * h
        ovr = inter / (areas[i] + areas[order[1:]] - inter)
        inds = np.where(ovr <= nms_thr)[0]
        order = order[inds + 1]
    return keep


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 40))
def test_nms_equals_upstream_on_random_boxes(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 300, size=(n, 2))
    wh = rng.uniform(5, 150, size=(n, 2))
    boxes = np.concatenate((xy, xy + wh), axis=1)
    scores = rng.permutation(n).astype(np.float64) / n + 0.01  # distinct: order is defined
    assert nms(boxes, scores, 0.45) == _upstream_nms(boxes, scores, 0.45)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    scale=st.sampled_from([1e-3, 1.0, 10.0, 1e4, 3e38]),
    extreme=st.sampled_from([0.0, 1.0, -1.0, 3.4e38, -3.4e38, 1e-45]),
    ratio=st.floats(0.01, 100.0),
    threshold=st.floats(0.0, 1.0),
)
def test_postprocess_never_raises_on_finite_garbage(
    seed: int, scale: float, extreme: float, ratio: float, threshold: float
) -> None:
    rng = np.random.default_rng(seed)
    raw = np.clip(rng.standard_normal((1, GRID.rows, 85)) * scale, -3.4e38, 3.4e38)
    raw = raw.astype(np.float32)
    raw[rng.random(raw.shape) < 0.01] = extreme
    assert np.isfinite(raw).all()
    w, h = 416 / ratio, 300 / ratio
    found = run(raw, ratio=ratio, score_threshold=threshold, image_wh=(w, h))
    for d in found:
        x1, y1, x2, y2 = d.box
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
        assert d.label in (TWO_WHEELER, PERSON)
        assert np.isfinite(d.score)


CHAIR = 56  # COCO "chair": a wheelchair's best class when the model is right about it


def test_row_whose_best_class_is_chair_is_not_a_two_wheeler() -> None:
    raw = empty_output(GRID)
    put_box(raw, GRID, (100, 100, 220, 240), {CHAIR: 0.8, BICYCLE: 0.75})
    assert run(raw) == []  # upstream's best-class rule: the row is a chair


def test_class_margin_lets_a_close_second_class_claim_the_row() -> None:
    raw = empty_output(GRID)
    put_box(raw, GRID, (100, 100, 220, 240), {CHAIR: 0.8, BICYCLE: 0.75})
    (only,) = run(raw, class_margin=0.1)
    assert only.label == TWO_WHEELER and only.score == pytest.approx(0.75)


def test_row_whose_best_class_is_person_counts_only_as_person() -> None:
    raw = empty_output(GRID)
    put_box(raw, GRID, (100, 60, 200, 200), {PERSON_ID: 0.9, BICYCLE: 0.6})
    assert [d.label for d in run(raw)] == [PERSON]


def test_partial_box_inside_a_whole_bike_is_merged_away() -> None:
    raw = empty_output(GRID)
    put_box(raw, GRID, (100, 100, 300, 220), {BICYCLE: 0.8})  # the whole bike
    put_box(raw, GRID, (110, 150, 180, 218), {BICYCLE: 0.6})  # its front wheel
    (only,) = run(raw)
    assert only.box == pytest.approx((100, 100, 300, 220), abs=1e-3)


def test_bike_parked_behind_another_is_kept() -> None:
    raw = empty_output(GRID)
    put_box(raw, GRID, (100, 100, 300, 260), {BICYCLE: 0.8})  # near bike, floor at 260
    put_box(raw, GRID, (150, 110, 260, 190), {BICYCLE: 0.6})  # inside, but stands higher
    assert len(run(raw)) == 2
