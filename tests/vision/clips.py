"""Clips composed from the shared test photos, written as real MJPG video files.

Background: the empty corridor photo (jetson_room_3.jpg). Bike: the city bike cropped
from bikeparking_394.png, pasted standing on the corridor floor. Person: a pedestrian
cropped from jetson_peds_0.jpg. Each helper returns frames for a timeline of states.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tests.shared_data import MODEL_SHA256
from vision.capture import write_clip
from vision.config import CameraConfig

W, H = 640, 480
FPS = 4.0
BIKE_AT = (200, 230)  # top-left where the bike crop is pasted
BIKE_H = 220
PERSON_Y, PERSON_H = 130, 340
ZONE = [(0.2, 0.7), (0.85, 0.7), (0.85, 0.99), (0.2, 0.99)]


@dataclass(frozen=True)
class Props:
    background: np.ndarray
    bike: np.ndarray
    person: np.ndarray
    motorcycle: np.ndarray


def load_props(shared: Path) -> Props:
    images = shared / "testdata" / "images"
    bg = cv2.resize(cv2.imread(str(images / "jetson_room_3.jpg")), (W, H))
    bike = cv2.imread(str(images / "bikeparking_394.png"))[205:475, 105:415]
    person = cv2.imread(str(images / "jetson_peds_0.jpg"))[130:970, 440:750]
    moto = cv2.imread(str(images / "skimage_motorcycle_left.png"))[70:455, 95:700]
    return Props(bg, bike, person, moto)


def paste(img: np.ndarray, crop: np.ndarray, x: int, y: int, h: int) -> np.ndarray:
    scale = h / crop.shape[0]
    c = cv2.resize(crop, (max(1, int(crop.shape[1] * scale)), h))
    out = img.copy()
    x0, y0 = max(0, x), max(0, y)
    x2, y2 = min(W, x + c.shape[1]), min(H, y + h)
    if x2 > x0 and y2 > y0:
        out[y0:y2, x0:x2] = c[y0 - y : y2 - y, x0 - x : x2 - x]
    return out


@dataclass(frozen=True)
class State:
    bike: bool = False
    bike_dx: int = 0  # horizontal shift of the bike (wheeled away)
    person_x: int | None = None  # left edge of the pedestrian, None = nobody
    brightness: float = 1.0  # lighting change
    motorcycle: bool = False  # paste the motorcycle photo instead (the model's label flips)


def render(p: Props, s: State) -> np.ndarray:
    frame = p.background
    if s.bike:
        crop = p.motorcycle if s.motorcycle else p.bike
        frame = paste(frame, crop, BIKE_AT[0] + s.bike_dx, BIKE_AT[1], BIKE_H)
    if s.person_x is not None:
        frame = paste(frame, p.person, s.person_x, PERSON_Y, PERSON_H)
    if s.brightness != 1.0:
        frame = np.clip(frame.astype(np.float32) * s.brightness, 0, 255).astype(np.uint8)
    return frame


def make_clip(
    path: Path, props: Props, duration_s: float, timeline: Callable[[float], State]
) -> Path:
    def frames() -> Iterator[np.ndarray]:
        n = int(duration_s * FPS)
        for i in range(n):
            yield render(props, timeline(i / FPS))

    write_clip(path, frames(), FPS)
    return path


def camera_config(shared: Path, source: str = "clip.avi", **kw: object) -> CameraConfig:
    zone: dict[str, object] = {"id": "corridor-a", "kind": "corridor", "polygon": ZONE}
    zone.update(kw.pop("zone", {}))  # type: ignore[arg-type]
    doc: dict[str, object] = {
        "name": "cam1",
        "kind": "camera",
        "source": source,
        "model": {"path": str(shared / "models" / "yolox_nano.onnx"), "sha256": MODEL_SHA256},
        "zones": [zone],
    }
    doc.update(kw)
    return CameraConfig.model_validate(doc)
