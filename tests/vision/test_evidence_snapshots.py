"""Evidence JPEGs: decodable, within budget, and no person recognisable in them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.shared_data import MODEL_SHA256
from vision.detector import Detector
from vision.evidence import SnapshotLimits, encode_within, make_snapshot
from vision.model_config import ModelConfig
from vision.types import PERSON


def sharpness(img: np.ndarray) -> float:
    """Laplacian variance: high for edges and texture (faces, hair, clothes), ~0 for mush."""
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def sharpness_outside_drawing(img: np.ndarray, box: tuple[slice, slice]) -> float:
    """Laplacian variance in ``box``, ignoring the drawn red box and yellow zone lines."""
    lap = cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.CV_64F)
    b, g, r = (img[..., i].astype(int) for i in range(3))
    drawn = ((r > 140) & (b < 110) & ((g < 110) | (g > 140))).astype(np.uint8)
    drawn = cv2.dilate(drawn, np.ones((9, 9), np.uint8)).astype(bool)
    values = lap[box][~drawn[box]]
    return float(values.var())


def decode(data: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None
    return img


@pytest.fixture(scope="module")
def street(shared_dir: Path) -> tuple[np.ndarray, list, list]:
    """A real street photo with people and a bicycle, and the detector's boxes."""
    img = cv2.imread(str(shared_dir / "testdata/images/mxnetssd_street.jpg"))
    det = Detector(ModelConfig(path=shared_dir / "models/yolox_nano.onnx", sha256=MODEL_SHA256))
    found = det.detect(img)
    people = [d.box for d in found if d.label == PERSON and d.score >= 0.5]
    bikes = [d.box for d in found if d.label != PERSON]
    assert len(people) >= 4 and bikes
    return img, people, bikes


def test_snapshot_pair_decodes_within_budget_with_people_blurred(street) -> None:
    img, people, bikes = street
    h, w = img.shape[:2]
    zone = [(0, int(h * 0.5)), (w - 1, int(h * 0.5)), (w - 1, h - 1), (0, h - 1)]
    shot = make_snapshot(img, bikes[0], people, zone, SnapshotLimits(max_bytes=100_000))
    for data in (shot.frame_jpeg, shot.crop_jpeg):
        assert len(data) <= 100_000
        decode(data)
    frame = decode(shot.frame_jpeg)
    back = cv2.resize(frame, (w, h), interpolation=cv2.INTER_LINEAR)
    # Compare like with like: the original through the same down- and up-scaling.
    scaled = cv2.resize(
        cv2.resize(img, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_AREA),
        (w, h),
        interpolation=cv2.INTER_LINEAR,
    )
    for x1, y1, x2, y2 in people:
        # The drawing sits on top of the blur (a rider under the bike's box), so it is
        # masked out: what must be gone is the person's own detail.
        box = (slice(int(y1) + 2, int(y2) - 2), slice(int(x1) + 2, int(x2) - 2))
        before, after = sharpness(scaled[box]), sharpness_outside_drawing(back, box)
        assert after < 0.05 * before, (before, after)


def test_budget_holds_for_noise() -> None:
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 256, size=(1080, 1920, 3), dtype=np.uint8)
    data = encode_within(noise, 100_000, quality=90, max_width=1280)
    assert len(data) <= 100_000
    assert decode(data).shape[1] <= 1280


def test_bike_box_drawn_on_frame(street) -> None:
    img, _people, bikes = street
    w = img.shape[1]
    zone = [(10, 10), (200, 10), (200, 200)]
    shot = make_snapshot(img, bikes[0], [], zone, SnapshotLimits(max_bytes=400_000, quality=95))
    frame = decode(shot.frame_jpeg)
    scale = frame.shape[1] / w
    x1 = int(bikes[0][0] * scale) + 1
    y = int((bikes[0][1] + bikes[0][3]) / 2 * scale)
    b, g, r = (int(v) for v in frame[y, x1])
    assert r > 180 and g < 90 and b < 90  # red box edge
