"""``edge-agent vision replay`` and ``edge-agent camera snapshot`` on the demo clip."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
import yaml

from agent.cli import main
from tests.shared_data import REPO


def _cli(argv: list[str]) -> int:
    return main(argv)


@pytest.fixture(scope="module")
def demo(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The README demo: clip built by examples/make_demo_clip.py, camera-demo.yaml entry."""
    tmp_path = tmp_path_factory.mktemp("demo")
    clip = tmp_path / "demo.avi"
    subprocess.run(
        [
            sys.executable,
            str(REPO / "examples/make_demo_clip.py"),
            "--shared",
            str(shared_dir),
            "--out",
            str(clip),
        ],
        check=True,
        capture_output=True,
    )
    entry = yaml.safe_load((REPO / "examples/camera-demo.yaml").read_text())["drivers"][0]
    entry["source"] = str(clip)
    entry["model"]["path"] = str(shared_dir / "models/yolox_nano.onnx")
    config = {
        "gateway": {"id": "gw-test"},
        "mqtt": {"host": "127.0.0.1", "insecure": True},
        "buffer": {"path": str(tmp_path / "outbox.db")},
        "drivers": [entry],
    }
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    return clip, path


def test_replay_explains_the_demo_clip(demo, capsys) -> None:
    clip, config = demo
    assert _cli(["vision", "replay", str(clip), "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "zone corridor-1 (corridor): grace 10 s" in out
    assert out.count("violation.started") == 1
    assert "candidate.opened" in out
    assert "1 violation(s) started, 0 cleared" in out
    assert "still open at the end of the clip" in out


def test_replay_json_lines(demo, capsys) -> None:
    clip, config = demo
    code = _cli(
        [
            "vision",
            "replay",
            str(clip),
            "--config",
            str(config),
            "--camera",
            "demo-cam",
            "--json",
            "--start",
            "2026-11-28T12:00:00+00:00",
        ]
    )
    assert code == 0
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    started = [d for d in docs if d["decision"] == "violation.started"]
    assert len(started) == 1
    assert started[0]["facts"]["zone"] == "corridor-1"
    assert started[0]["time"].startswith("2026-11-28T12:00:1")  # 10 s grace + 2 s arrival


def test_replay_unknown_camera_is_a_usage_error(demo, capsys) -> None:
    clip, config = demo
    assert _cli(["vision", "replay", str(clip), "--config", str(config), "--camera", "x"]) == 2
    assert "no camera named 'x'" in capsys.readouterr().err


def test_snapshot_draws_zones(demo, tmp_path, capsys) -> None:
    _clip, config = demo
    out = tmp_path / "check.jpg"
    code = _cli(
        ["camera", "snapshot", "--config", str(config), "--camera", "demo-cam", "--out", str(out)]
    )
    assert code == 0
    image = cv2.imread(str(out))
    assert image is not None and image.shape[:2] == (480, 640)
    # The zone's top edge (y = 0.7) is drawn in yellow.
    b, g, r = (int(v) for v in image[int(0.7 * 480), 320])
    assert r > 180 and g > 180 and b < 100


def test_snapshot_of_unreachable_camera_fails_cleanly(demo, tmp_path, capsys) -> None:
    _clip, original = demo
    doc = yaml.safe_load(original.read_text())
    doc["drivers"][0]["source"] = str(tmp_path / "gone.avi")
    config = tmp_path / "agent.yaml"
    config.write_text(yaml.safe_dump(doc))
    code = _cli(
        [
            "camera",
            "snapshot",
            "--config",
            str(config),
            "--camera",
            "demo-cam",
            "--out",
            str(tmp_path / "x.jpg"),
        ]
    )
    assert code == 1
    assert "cannot open" in capsys.readouterr().err


def test_cli_registers_camera_group() -> None:
    from agent.cli import COMMAND_MODULES

    assert "agent.commands.camera" in COMMAND_MODULES
