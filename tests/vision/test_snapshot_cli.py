"""``camera snapshot`` from a bare source (grid, preview zones, detections with anchors) and
``camera detect --annotate``: the installer's help on a terminal (issue 15 item 4)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from agent.cli import main
from tests.shared_data import MODEL_SHA256

BAY = "bay=0.1,0.6 0.9,0.6 0.9,0.99 0.1,0.99"


def _model(shared: Path) -> list[str]:
    return ["--model", str(shared / "models" / "yolox_nano.onnx"), "--sha256", MODEL_SHA256]


def test_snapshot_from_a_bare_source_draws_grid_zone_and_anchors(
    shared_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = shared_dir / "testdata" / "images" / "bikeparking_394.png"
    plain, drawn = tmp_path / "plain.jpg", tmp_path / "drawn.jpg"
    assert main(["camera", "snapshot", "--source", str(photo), "--out", str(plain)]) == 0
    argv = ["camera", "snapshot", "--source", str(photo), "--out", str(drawn), "--grid",
            "--zone", BAY, "--detect", *_model(shared_dir)]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "1 zone(s), 1 detection(s)" in out
    assert "two_wheeler" in out and "anchor (0.4" in out and "in bay" in out
    a, b = cv2.imread(str(plain)), cv2.imread(str(drawn))
    assert a.shape == b.shape == (640, 640, 3)
    # Grid lines at every tenth of the frame: the 0.5 column is lighter than the photo there.
    assert b[50:300, 320].mean() > a[50:300, 320].mean() + 20
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 3


def test_snapshot_from_a_config_uses_its_camera_and_zones(
    shared_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = shared_dir / "testdata" / "images" / "bikeparking_394.png"
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(yaml.safe_dump({
        "gateway": {"id": "gw-1"}, "mqtt": {"host": "127.0.0.1", "insecure": True},
        "buffer": {"path": str(tmp_path / "b.db")},
        "drivers": [{"name": "cam", "kind": "camera", "source": str(photo),
                     "model": {"path": str(shared_dir / "models" / "yolox_nano.onnx"),
                               "sha256": MODEL_SHA256},
                     "zones": [{"id": "far", "kind": "corridor",
                                "polygon": [[0, 0], [0.3, 0], [0.3, 0.3]]}]}],
    }))  # fmt: skip
    out = tmp_path / "cam.jpg"
    assert main(["camera", "snapshot", "-c", str(cfg), "--out", str(out), "--detect"]) == 0
    text = capsys.readouterr().out
    assert "1 zone(s), 1 detection(s)" in text and "in no zone" in text


def test_snapshot_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["camera", "snapshot", "--out", str(tmp_path / "x.jpg")]) == 2
    assert "--source" in capsys.readouterr().err
    argv = ["camera", "snapshot", "--source", "x.jpg", "--out", "y.jpg", "--detect"]
    assert main(argv) == 1
    assert "needs --model" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["camera", "snapshot", "--source", "x", "--out", "y.jpg", "--zone", "z=0,0 1,1"])
    assert "at least 3 points" in capsys.readouterr().err


def test_detect_annotate_saves_what_it_saw(
    shared_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = shared_dir / "testdata" / "images"
    one, many = tmp_path / "one.jpg", tmp_path / "many.jpg"
    moto = str(images / "skimage_motorcycle_left.png")
    assert main(["camera", "detect", *_model(shared_dir), "--annotate", str(one), moto]) == 0
    assert cv2.imread(str(one)) is not None
    argv = ["camera", "detect", *_model(shared_dir), "--annotate", str(many), moto,
            str(images / "jetson_peds_0.jpg")]  # fmt: skip
    assert main(argv) == 0
    for stem in ("skimage_motorcycle_left", "jetson_peds_0"):
        assert cv2.imread(str(tmp_path / f"many-{stem}.jpg")) is not None
    assert "annotated:" in capsys.readouterr().err
