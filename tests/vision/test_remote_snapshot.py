"""Remote ``snapshot`` from a real camera driver (a clip through real capture and the real
YOLOX-Nano model) in the in-process agent, asked over a real Mosquitto."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tests.broker import Mosquitto
from tests.shared_data import MODEL_SHA256
from tests.spine.agentproc import synthetic
from tests.spine.remote_client import Requester
from tests.spine.test_remote import GW, _config, running
from tests.vision.clips import (
    PERSON_H,
    PERSON_Y,
    ZONE,
    State,
    load_props,
    make_clip,
    paste,
)

PERSON_X = 300


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    b = Mosquitto(tmp_path).start()
    yield b
    b.stop()


def _camera(shared: Path, clip: Path) -> dict[str, Any]:
    return {
        "name": "gate-cam",
        "kind": "camera",
        "source": str(clip),
        "file_end": "loop",
        "model": {"path": str(shared / "models" / "yolox_nano.onnx"), "sha256": MODEL_SHA256},
        "zones": [{"id": "corridor-a", "kind": "corridor", "polygon": [list(p) for p in ZONE]}],
        "sampling": {"idle_interval_s": 0.5, "active_interval_s": 0.5},
    }


def _ask_until_sampled(req: Requester, timeout: float = 120.0) -> dict[str, Any]:
    """The camera loads the model and samples its first frame after start: ask again
    while the reply says there is no sampled frame yet."""
    deadline = time.monotonic() + timeout
    while True:
        reply = req.ask("snapshot", {"camera": "gate-cam", "max_width": 320}, 30)
        if reply["ok"] or "no sampled frame" not in reply["error"]["message"]:
            return reply
        if time.monotonic() > deadline:
            return reply
        time.sleep(0.5)


def test_snapshot_is_the_sampled_frame_with_people_blurred(
    shared_dir: Path, tmp_path: Path, broker: Mosquitto
) -> None:
    props = load_props(shared_dir)
    clip = make_clip(tmp_path / "clip.avi", props, 4, lambda t: State(person_x=PERSON_X))
    config = _config(
        tmp_path, broker.port, [synthetic(0, 2, name="tick"), _camera(shared_dir, clip)]
    )
    requester = Requester(broker.port, GW)

    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        async with running(config):
            await asyncio.to_thread(requester.wait_ready)
            shot = await asyncio.to_thread(_ask_until_sampled, requester)
            other = await asyncio.to_thread(requester.ask, "snapshot", {"camera": "tick"})
            return shot, other

    try:
        shot, other = asyncio.run(main())
    finally:
        requester.close()
    assert shot["ok"], shot
    res = shot["result"]
    jpeg = base64.b64decode(res["jpeg_base64"])
    assert len(jpeg) == res["bytes"] and hashlib.sha256(jpeg).hexdigest() == res["sha256"]
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape[1] == 320 and (res["frame_width"], res["frame_height"]) == (640, 480)
    assert res["people_masked"] >= 1
    # The person's region is blurred: far less detail than in the frame the camera saw.
    original = cv2.resize(props.background, (640, 480))
    seen = cv2.resize(paste(original, props.person, PERSON_X, PERSON_Y, PERSON_H), (320, 240))
    box = (slice(PERSON_Y // 2 + 10, (PERSON_Y + PERSON_H) // 2 - 10),
           slice(PERSON_X // 2 + 5, PERSON_X // 2 + 60))  # fmt: skip
    sent_detail = cv2.Laplacian(cv2.cvtColor(image[box], cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()
    seen_detail = cv2.Laplacian(cv2.cvtColor(seen[box], cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()
    assert sent_detail < seen_detail / 4, (sent_detail, seen_detail)
    assert (
        other["error"]["code"] == "refused"
        and "no camera named 'tick'" in other["error"]["message"]
    )
