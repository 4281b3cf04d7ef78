"""A privacy-masked still from a running camera, for the platform's remote ``snapshot``.

The still is the frame the camera driver last *sampled*, not the newest frame the grabber
holds: only for the sampled frame are the people known (the detections of that sample),
so only that frame can be sent with every person blurred. It is at most one sampling
interval old; its age is reported. Blurring is the evidence snapshots' own
(:func:`vision.evidence.blur_people`), encoding bounded in bytes and width
(:func:`vision.evidence.encode_within`). No frame is sent unmasked: before the first
sample there is no still.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from vision.camera_driver import CameraDriver
from vision.capture import Frame
from vision.evidence import blur_people, encode_within
from vision.types import PERSON, Detection


@dataclass(frozen=True)
class Still:
    jpeg: bytes
    frame_width: int  # of the sampled frame; the JPEG may be scaled down to fit
    frame_height: int
    people: int  # persons detected in that frame and blurred
    age_s: float  # since the frame was read


def is_camera(driver: object) -> bool:
    return isinstance(driver, CameraDriver)


def last_sample(driver: CameraDriver) -> tuple[Frame, list[Detection]] | None:
    """The last sampled frame and its detections, read together (call on the event loop,
    where the driver sets them, so the two always belong to each other)."""
    frame = driver.last_sample
    if frame is None or driver.last_sample_seq != frame.seq:
        return None
    return frame, list(driver.last_detections)


def masked_still(
    frame: Frame, detections: list[Detection], max_width: int, max_bytes: int
) -> Still:
    """``frame`` with every detected person blurred, as a JPEG within the limits.
    Blocking (OpenCV): call it in a worker thread."""
    people = [d.box for d in detections if d.label == PERSON]
    image = blur_people(frame.image, people) if people else frame.image
    jpeg = encode_within(image, max_bytes, quality=80, max_width=max_width)
    h, w = frame.image.shape[:2]
    return Still(jpeg, int(w), int(h), len(people), round(time.monotonic() - frame.t, 1))
