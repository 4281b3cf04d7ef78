"""The Detector with the real YOLOX-Nano model: verification, shapes, frames, crops."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.shared_data import MODEL_SHA256
from tests.vision._detector_support import iou, model_config
from vision.detector import Detector, ModelVerificationError
from vision.preprocess import InputBuffer, letterbox, letterbox_reference, read_image
from vision.types import TWO_WHEELER


@pytest.fixture(scope="module")
def detector(shared_dir: Path) -> Iterator[Detector]:
    yield Detector(model_config(shared_dir))


@pytest.fixture(scope="module")
def dog(shared_dir: Path) -> np.ndarray:
    return read_image(shared_dir / "testdata" / "images" / "darknet_dog.jpg")


def test_sha256_mismatch_names_both_hashes_and_the_path(tmp_path: Path, shared_dir: Path) -> None:
    copy = tmp_path / "model.onnx"
    shutil.copyfile(shared_dir / "models" / "yolox_nano.onnx", copy)
    with copy.open("ab") as fh:
        fh.write(b"\0")  # one byte more: a different file
    with pytest.raises(ModelVerificationError) as err:
        Detector(model_config(shared_dir, path=copy))
    message = str(err.value)
    assert MODEL_SHA256 in message
    assert "expected sha256" in message and "actual" in message
    actual = message.split("actual ")[1][:64]
    assert len(actual) == 64 and actual != MODEL_SHA256
    assert str(copy) in message


def test_missing_model_file_is_a_verification_error(tmp_path: Path, shared_dir: Path) -> None:
    missing = tmp_path / "nope.onnx"
    with pytest.raises(ModelVerificationError, match=r"model file not found: .*nope\.onnx"):
        Detector(model_config(shared_dir, path=missing))


def test_file_that_is_not_a_model_is_a_verification_error(tmp_path: Path, shared_dir: Path) -> None:
    bogus = tmp_path / "bogus.onnx"
    bogus.write_bytes(b"not an onnx file")
    digest = hashlib.sha256(b"not an onnx file").hexdigest()
    with pytest.raises(ModelVerificationError, match="cannot load model"):
        Detector(model_config(shared_dir, path=bogus, sha256=digest))


def test_wrong_input_size_in_config_is_a_clear_error(shared_dir: Path) -> None:
    with pytest.raises(ModelVerificationError) as err:
        Detector(model_config(shared_dir, input_size=(320, 320)))
    message = str(err.value)
    assert "[1, 3, 416, 416]" in message and "(320, 320)" in message
    assert "input_size" in message


def test_wrong_class_count_in_config_is_a_clear_error(shared_dir: Path) -> None:
    with pytest.raises(ModelVerificationError, match=r"outputs \[1, 3549, 85\].*num_classes 20"):
        Detector(model_config(shared_dir, num_classes=20, class_map={1: "two_wheeler"}))


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (np.zeros((100, 100), np.uint8), "HxWx3"),
        (np.zeros((100, 100, 4), np.uint8), "HxWx3"),
        (np.zeros((100, 100, 3), np.float32), "uint8"),
        (np.zeros((0, 100, 3), np.uint8), "empty"),
        ([[0, 0, 0]], "numpy array"),
    ],
)
def test_unusable_frames_raise_value_error(detector: Detector, frame: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        detector.detect(frame)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=match):
        detector.preprocess(frame)  # type: ignore[arg-type]


def test_reused_input_buffer_equals_upstream_when_the_frame_size_changes() -> None:
    # The buffer re-pads only when the letterbox geometry changes: a camera's frames, then
    # a zone crop of another shape, then the full frame again must each match upstream.
    rng = np.random.default_rng(7)
    buffer = InputBuffer((416, 416))
    for shape in [(480, 640), (480, 640), (640, 480), (200, 200), (480, 640)]:
        frame = rng.integers(0, 256, size=(*shape, 3), dtype=np.uint8)
        tensor, ratio = buffer.fill(frame)
        expected, expected_ratio = letterbox_reference(frame, (416, 416))
        assert tensor is buffer.tensor and ratio == expected_ratio
        np.testing.assert_array_equal(tensor, expected)


@pytest.mark.parametrize("shape", [(576, 768), (300, 1000), (1000, 300), (416, 416), (61, 47)])
def test_letterbox_geometry_matches_upstream(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    frame = rng.integers(0, 256, size=(*shape, 3), dtype=np.uint8)
    tensor, ratio = letterbox(frame, (416, 416))
    expected, expected_ratio = letterbox_reference(frame, (416, 416))
    assert ratio == expected_ratio == min(416 / shape[0], 416 / shape[1])
    assert tensor.shape == (1, 3, 416, 416) and tensor.dtype == np.float32
    np.testing.assert_array_equal(tensor, expected)
    rh, rw = int(shape[0] * ratio), int(shape[1] * ratio)
    assert (tensor[0, :, rh:, :] == 114).all() and (tensor[0, :, :, rw:] == 114).all()
    # top-left placement, BGR order kept, no normalisation
    top_left = cv2.resize(frame, (rw, rh), interpolation=cv2.INTER_LINEAR)[0, 0]
    assert tensor[0, :, 0, 0].tolist() == top_left.astype(np.float32).tolist()


def test_dog_photo_finds_the_bicycle_with_stage_timings(
    detector: Detector, dog: np.ndarray
) -> None:
    found = detector.detect(dog)
    bikes = [d for d in found if d.label == TWO_WHEELER]
    assert len(bikes) == 1
    assert bikes[0].source_class == "bicycle"
    assert iou(bikes[0].box, (125, 136, 567, 420)) > 0.6
    assert set(detector.last_timings) == {"preprocess_ms", "infer_ms", "postprocess_ms", "total_ms"}
    assert all(v >= 0 for v in detector.last_timings.values())


def test_stages_compose_to_detect(detector: Detector, dog: np.ndarray) -> None:
    tensor, ratio = detector.preprocess(dog)
    raw = detector.infer(tensor)
    assert raw.shape == (1, 3549, 85)
    staged = detector.postprocess(raw, ratio, image_wh=(dog.shape[1], dog.shape[0]))
    assert staged == detector.detect(dog)


def test_detect_in_maps_crop_boxes_back_to_the_frame(detector: Detector, dog: np.ndarray) -> None:
    # The photo pasted into a larger frame: detecting in its rectangle must give exactly
    # the photo's own detections, shifted by where it was pasted.
    h, w = dog.shape[:2]
    big = np.full((h + 200, w + 300, 3), 40, np.uint8)
    ox, oy = 250, 120
    big[oy : oy + h, ox : ox + w] = dog
    direct = detector.detect(dog)
    cropped = detector.detect_in(big, (ox, oy, ox + w, oy + h))
    assert len(cropped) == len(direct) >= 1
    for a, b in zip(direct, cropped, strict=True):
        assert (a.label, a.source_class) == (b.label, b.source_class)
        assert b.score == pytest.approx(a.score)
        shifted = (a.box[0] + ox, a.box[1] + oy, a.box[2] + ox, a.box[3] + oy)
        assert b.box == pytest.approx(shifted)
        assert ox <= b.box[0] < b.box[2] <= ox + w and oy <= b.box[1] < b.box[3] <= oy + h


def test_detect_in_clips_the_roi_and_rejects_one_outside(
    detector: Detector, dog: np.ndarray
) -> None:
    h, w = dog.shape[:2]
    assert detector.detect_in(dog, (-50, -50, w + 50, h + 50)) == detector.detect(dog)
    with pytest.raises(ValueError, match="does not overlap"):
        detector.detect_in(dog, (w + 10, 0, w + 100, 50))


def test_crop_around_a_small_bike_finds_it(detector: Detector, dog: np.ndarray) -> None:
    # Shrink the photo so the bike is small in a large frame, then crop around it.
    small = cv2.resize(dog, (192, 144), interpolation=cv2.INTER_AREA)
    frame = np.full((1080, 1920, 3), 90, np.uint8)
    frame[800:944, 1500:1692] = small
    in_roi = detector.detect_in(frame, (1450, 750, 1742, 994))
    bikes = [d for d in in_roi if d.label == TWO_WHEELER]
    assert bikes, "the crop should show the bike at model resolution"
    x1, y1, x2, y2 = bikes[0].box
    assert 1500 <= x1 < x2 <= 1692 and 800 <= y1 < y2 <= 944


def test_class_map_outside_the_model_is_a_clear_error(shared_dir: Path) -> None:
    with pytest.raises(ModelVerificationError, match=r"class_map id 80 .*80 classes"):
        Detector(model_config(shared_dir, class_map={80: "two_wheeler"}))
