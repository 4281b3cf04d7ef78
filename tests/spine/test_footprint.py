"""Footprint (issue 19 item 1): a gateway imports only what its configured kinds need.

Every extra is installed in the project's venv, so numpy, OpenCV and onnxruntime are all
importable; a Modbus + synthetic configuration must still never load them (sqlite-utils
would pull numpy in at import: buffer/schema.py imports it only when a migration is due),
and a camera configuration must. Each case runs the start-up path in a fresh interpreter
(tests/spine/footprint_probe.py), since this test process has imported everything already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.shared_data import MODEL_SHA256, REPO

HEAVY = {"numpy", "cv2", "onnxruntime"}


def _loaded(tmp: Path, drivers: list[dict[str, object]]) -> set[str]:
    config = tmp / "agent.yaml"
    doc = {
        "gateway": {"id": "gw-1"},
        "mqtt": {"host": "127.0.0.1", "insecure": True},
        "buffer": {"path": str(tmp / "state" / "buffer.db")},
        "drivers": drivers,
    }
    config.write_text(yaml.safe_dump(doc, sort_keys=False))
    out = subprocess.run(
        [sys.executable, "-m", "tests.spine.footprint_probe", str(config)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


def _every_extra_installed() -> None:
    import cv2  # noqa: F401
    import numpy  # noqa: F401
    import onnxruntime  # noqa: F401


def test_modbus_only_config_never_imports_numpy_cv2_or_onnxruntime(tmp_path: Path) -> None:
    _every_extra_installed()
    modules = _loaded(
        tmp_path,
        [
            {
                "name": "lifts",
                "kind": "modbus",
                "devices": [{"id": "lift-1", "unit_id": 1, "profile": "gb-monitor-box"}],
            },
            {"name": "synth", "kind": "synthetic", "count": 3},
        ],
    )
    assert "pymodbus" in modules  # the probe did reach the driver
    assert "buffer" in modules and "sqlite3" in modules  # and opened the outbox
    assert HEAVY.isdisjoint(modules), sorted(HEAVY & modules)
    assert "sqlite_utils" not in modules  # a fresh file needs no migration
    assert "cryptography" not in modules  # provisioning's library only (agent/credentials.py)
    # Nor the camera's config model: the config is read by kind first (agent/config_model.py).
    assert "vision" not in modules


def test_camera_config_imports_them(tmp_path: Path, shared_dir: Path) -> None:
    camera = {
        "name": "cam",
        "kind": "camera",
        "source": str(tmp_path / "none.avi"),
        "model": {"path": str(shared_dir / "models" / "yolox_nano.onnx"), "sha256": MODEL_SHA256},
        "zones": [{"id": "z", "kind": "corridor", "polygon": [[0, 0], [1, 0], [1, 1]]}],
    }
    modules = _loaded(tmp_path, [camera])
    assert modules >= HEAVY, sorted(HEAVY - modules)
    assert "pymodbus" not in modules
