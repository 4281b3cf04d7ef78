"""The small post-processing path decides exactly as the general one, or declines.

``vision.postprocess_small`` is a second implementation of the same rules for speed (see
its docstring), so it is checked against the general path on what matters most, the real
model's outputs on every shared photo and hard negative, and on random outputs shaped
like real ones; and it must hand every case it does not cover back (``None``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.vision._detector_support import BICYCLE, CHAIR_ID, empty_output, model_config, put_box
from vision.detector import Detector
from vision.model_config import DEFAULT_CLASS_MAP, DEFAULT_SOURCE_NAMES
from vision.postprocess import (
    DecodeSpec,
    check_output,
    make_grid,
    make_label_groups,
    postprocess_rows,
)
from vision.postprocess_small import postprocess_small, small_tables
from vision.preprocess import read_image
from vision.types import Detection

GRID = make_grid((416, 416))
SPEC = DecodeSpec(
    grid=GRID,
    groups=make_label_groups(DEFAULT_CLASS_MAP, DEFAULT_SOURCE_NAMES, 80),
    score_threshold=0.3,
    nms_iou=0.45,
)
TABLES = small_tables(SPEC, 80)


def _both(
    raw: np.ndarray, ratio: float, wh: tuple[float, float], spec: DecodeSpec = SPEC
) -> tuple[list[Detection] | None, list[Detection]]:
    rows = check_output(raw, ratio, spec)
    small = postprocess_small(rows, ratio, spec, small_tables(spec, 80), wh, (7.0, 3.0))
    return small, postprocess_rows(rows, ratio, spec, wh, (7.0, 3.0))


def _assert_same(small: list[Detection] | None, general: list[Detection]) -> None:
    assert small is not None
    assert [(d.label, d.source_class, d.score) for d in small] == [
        (d.label, d.source_class, d.score) for d in general
    ]
    for a, b in zip(small, general, strict=True):
        # float64 decode here, float32 there (as upstream): equal to well under a pixel.
        assert a.box == pytest.approx(b.box, abs=1e-3)


def _photos(shared_dir: Path) -> list[Path]:
    images = [shared_dir / "testdata" / "images", shared_dir / "testdata" / "hardneg" / "images"]
    suffixes = {".jpg", ".jpeg", ".png"}
    return sorted(p for d in images for p in d.iterdir() if p.suffix.lower() in suffixes)


def test_same_detections_as_the_general_path_on_every_shared_photo(shared_dir: Path) -> None:
    detector = Detector(model_config(shared_dir))
    photos = _photos(shared_dir)
    assert len(photos) >= 34
    found = 0
    for photo in photos:
        image = read_image(photo)
        tensor, ratio = detector.preprocess(image)
        raw = detector.infer(tensor).copy()
        small, general = _both(raw, ratio, (float(image.shape[1]), float(image.shape[0])))
        _assert_same(small, general)
        found += len(general)
    assert found > len(photos)  # the comparison was about real detections, not empty lists


def _realistic(seed: int, rows: int) -> np.ndarray:
    """A model output shaped like a real one: a few confident rows, small box terms."""
    rng = np.random.default_rng(seed)
    raw = empty_output(GRID)
    picked = rng.choice(GRID.rows, size=rows, replace=False)
    raw[0, picked, 0:2] = rng.uniform(-2, 3, size=(rows, 2))
    raw[0, picked, 2:4] = rng.uniform(-1, 3, size=(rows, 2))
    raw[0, picked, 4] = rng.uniform(0.2, 1.0, size=rows)
    raw[0, picked, 5:] = rng.uniform(0, 0.2, size=(rows, 80))
    # Most rows lean to a person, a bicycle, a motorcycle or a chair, as real ones do.
    lean = rng.choice([0, 1, 3, 56, 13], size=rows)
    raw[0, picked, 5 + lean] = rng.uniform(0.3, 1.0, size=rows)
    return raw


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(1, 90), ratio=st.floats(0.2, 4.0))
def test_same_detections_as_the_general_path_on_realistic_outputs(
    seed: int, rows: int, ratio: float
) -> None:
    small, general = _both(_realistic(seed, rows), ratio, (416 / ratio, 300 / ratio))
    _assert_same(small, general)


def test_declines_a_class_margin() -> None:
    spec = DecodeSpec(SPEC.grid, SPEC.groups, SPEC.score_threshold, SPEC.nms_iou, class_margin=0.1)
    raw = empty_output(GRID)
    put_box(raw, GRID, (100, 100, 200, 180), {BICYCLE: 0.8})
    assert (
        postprocess_small(check_output(raw, 1.0, spec), 1.0, spec, TABLES, (416, 416), (0, 0))
        is None
    )


def test_declines_a_tie_for_the_best_class() -> None:
    raw = empty_output(GRID)
    put_box(raw, GRID, (100, 100, 200, 180), {BICYCLE: 0.8, CHAIR_ID: 0.8})
    small, general = _both(raw, 1.0, (416.0, 416.0))
    assert small is None
    assert [d.label for d in general] == ["two_wheeler"]  # the general path's rule: >= best


def test_declines_garbage_box_terms() -> None:
    raw = empty_output(GRID)
    row = put_box(raw, GRID, (100, 100, 200, 180), {BICYCLE: 0.8})
    raw[0, row, 0] = 3e38
    assert _both(raw, 1.0, (416.0, 416.0))[0] is None


def test_declines_a_non_finite_score() -> None:
    raw = empty_output(GRID)
    row = put_box(raw, GRID, (100, 100, 200, 180), {BICYCLE: 0.8})
    raw[0, row, 4] = 3e38
    raw[0, row, 5 + BICYCLE] = 3e38  # objectness x class overflows to inf
    assert _both(raw, 1.0, (416.0, 416.0))[0] is None
