"""Start-up check of a ``camera`` entry: the model file exists and has the configured hash.

The detector verifies the same at load (vision/detector.py), but only once the driver
runs; ``config check`` must say so first (issue 8). Hashing here needs only hashlib, so
the check never loads onnxruntime, OpenCV or numpy.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from agent.driver import CheckContext, ConfigProblem
from vision.config import CameraConfig


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_camera(config: CameraConfig, context: CheckContext) -> list[ConfigProblem]:
    model = config.model.path
    path = model if model.is_absolute() else context.cwd / model
    try:
        actual = _sha256(path)
    except OSError as exc:
        return [ConfigProblem(("model", "path"), f"cannot read model {model}: {exc.strerror}")]
    if actual != config.model.sha256.lower():
        return [
            ConfigProblem(
                ("model", "sha256"),
                f"model {model} has sha256 {actual}, not the configured one; install the "
                "file the config names or correct model.sha256",
            )
        ]
    return []
