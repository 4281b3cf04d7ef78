"""``edge-agent diag`` for a ``camera`` entry: the camera gives a frame, the model verifies.

Running agent: the camera is judged from its live status (agent/status.py): state,
resolution and the age of the last sample, without opening a second stream (many IP
cameras allow few RTSP sessions, a USB camera only one). Stopped agent: one frame is
grabbed (vision/capture.py). Either way the model file is hashed against the config,
loaded and timed on one frame (``camera.model``); that runs beside a running agent on
purpose, since it holds no device. Runbook: docs/operations.md, "camera.frame" and
"camera.model".
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

from agent.diagnosis import DiagContext, Finding, LiveRule, judge_live
from vision.capture import grab_one, redact
from vision.config import CameraConfig
from vision.detector import Detector, ModelVerificationError

FRAME = "camera.frame"
MODEL = "camera.model"
FIX_FRAME = "check the camera's power and network, and the source URL or device in the config"
FIX_MODEL = "install the model file the config names (docs/vision-detector.md) or fix model.sha256"
INFERENCE_RUNS = 3


def _frame_live(config: CameraConfig, context: DiagContext) -> Finding:
    assert context.live is not None
    rule = LiveRule(FRAME, config.name, FIX_FRAME, max(60.0, 2 * config.offline_after_s))
    finding = judge_live(context.live, config.name, config.name, rule, context.now)
    resolution = finding.measured.get("resolution")
    if resolution:
        finding.value += f", {resolution}"
    return finding


async def _frame_now(config: CameraConfig) -> tuple[Finding, object | None]:
    try:
        image = await asyncio.to_thread(
            grab_one, config.source, config.open_timeout_s, config.read_timeout_s
        )
    except OSError as exc:
        return Finding(
            check=FRAME, target=config.name, status="fail", value=str(exc), fix=FIX_FRAME
        ), None
    h, w = image.shape[:2]
    finding = Finding(
        check=FRAME,
        target=config.name,
        status="pass",
        value=f"frame {w}x{h} from {redact(config.source)}, 0 s old",
        measured={"resolution": f"{w}x{h}", "last_sample_age_s": 0.0},
    )
    return finding, image


def _model(config: CameraConfig, context: DiagContext, image: object | None) -> Finding:
    import numpy as np

    path = config.model.path if config.model.path.is_absolute() else context.cwd / config.model.path
    model = config.model.model_copy(update={"path": Path(path)})
    try:
        detector = Detector(model)
    except ModelVerificationError as exc:
        return Finding(
            check=MODEL, target=config.name, status="fail", value=str(exc), fix=FIX_MODEL
        )
    if not isinstance(image, np.ndarray):
        image = np.zeros((*model.input_size, 3), dtype=np.uint8)
    times = []
    for _ in range(INFERENCE_RUNS):
        started = time.perf_counter()
        detector.detect(image)
        times.append((time.perf_counter() - started) * 1000)
    ms = round(statistics.median(times), 1)
    return Finding(
        check=MODEL,
        target=config.name,
        status="pass",
        value=f"{model.path.name} verified (sha256), inference {ms} ms",
        measured={"inference_ms": ms},
    )


async def diag_camera(config: CameraConfig, context: DiagContext) -> list[Finding]:
    if context.live is not None:
        frame, image = _frame_live(config, context), None
    else:
        frame, image = await _frame_now(config)
    return [frame, await asyncio.to_thread(_model, config, context, image)]
