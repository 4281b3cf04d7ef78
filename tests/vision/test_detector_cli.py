"""``edge-agent vision detect`` through agent.cli.main."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.cli import main
from tests.shared_data import MODEL_SHA256


def _args(shared_dir: Path, *images: str, sha: str | None = MODEL_SHA256) -> list[str]:
    args = ["vision", "detect", "--model", str(shared_dir / "models" / "yolox_nano.onnx")]
    if sha is not None:
        args += ["--sha256", sha]
    return [*args, *images, "--json"]


def test_detect_prints_one_json_array_in_image_pixels(
    shared_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = shared_dir / "testdata" / "images"
    dog, peds = str(images / "darknet_dog.jpg"), str(images / "jetson_peds_0.jpg")
    assert main(_args(shared_dir, dog, peds)) == 0
    out, err = capsys.readouterr()
    assert err == ""
    result = json.loads(out)
    assert [item["file"] for item in result] == [dog, peds]
    first = result[0]
    assert (first["width"], first["height"]) == (768, 576)
    labels = {d["label"] for item in result for d in item["detections"]}
    assert labels == {"two_wheeler", "person"}
    for item in result:
        for det in item["detections"]:
            assert set(det) == {"label", "score", "box", "source_class"}
            x1, y1, x2, y2 = det["box"]
            assert 0 <= x1 < x2 <= item["width"] and 0 <= y1 < y2 <= item["height"]
            assert 0.3 <= det["score"] <= 1
    bike = next(d for d in first["detections"] if d["label"] == "two_wheeler")
    assert bike["box"][2] > 500  # original-image pixels, not model pixels (416)


def test_unreadable_image_is_reported_and_the_rest_still_run(
    shared_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not a jpeg")
    dog = str(shared_dir / "testdata" / "images" / "darknet_dog.jpg")
    assert main(_args(shared_dir, str(junk), str(tmp_path / "missing.png"), dog)) == 1
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert [("error" in item) for item in result] == [True, True, False]
    assert "not a readable image" in result[0]["error"]
    assert "no such file" in result[1]["error"]
    assert result[2]["detections"]
    assert "junk.jpg" in err and "missing.png" in err


def test_without_sha256_it_warns_unverified_and_names_the_hash(
    shared_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dog = str(shared_dir / "testdata" / "images" / "darknet_dog.jpg")
    assert main(_args(shared_dir, dog, sha=None)) == 0
    out, err = capsys.readouterr()
    assert "UNVERIFIED" in err and MODEL_SHA256 in err
    assert json.loads(out)[0]["detections"]


def test_wrong_sha256_runs_nothing(shared_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dog = str(shared_dir / "testdata" / "images" / "darknet_dog.jpg")
    assert main(_args(shared_dir, dog, sha="0" * 64)) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "0" * 64 in err and MODEL_SHA256 in err


def test_human_output_and_roi(shared_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dog = str(shared_dir / "testdata" / "images" / "darknet_dog.jpg")
    model = str(shared_dir / "models" / "yolox_nano.onnx")
    args = [
        "vision",
        "detect",
        "--model",
        model,
        "--sha256",
        MODEL_SHA256,
        "--roi",
        "0,100,640,480",
    ]
    assert main([*args, dog]) == 0
    out, _ = capsys.readouterr()
    assert "darknet_dog.jpg: 1 detection(s)" in out
    assert "two_wheeler" in out and "(bicycle)" in out


def test_bad_roi_is_a_usage_error(shared_dir: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["vision", "detect", "--model", "m.onnx", "--roi", "1,2,3", "x.jpg"])
    assert exit_info.value.code == 2


def test_building_the_cli_loads_no_heavy_library() -> None:
    code = (
        "import sys; from agent.cli import build_parser; build_parser(); "
        "print([m for m in ('cv2', 'onnxruntime', 'numpy') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
