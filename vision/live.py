"""What a running camera shows now, for the local console: frame, zones, detections, timers.

Read from the live :class:`~vision.camera_driver.CameraDriver` (its grabber's latest frame,
the detections of its last sample and the dwell engine's candidates) on the event loop, on
request only: nothing here runs while no browser asks. Geometry is returned normalised to
the frame (0..1) like the configured polygons, so the page draws it over any image size.
The frame JPEG has the people of the last sample blurred, as evidence snapshots do.
"""

from __future__ import annotations

import time
from typing import Any

from vision.camera_driver import CameraDriver
from vision.evidence import blur_people, encode_within
from vision.geometry import bottom_centre
from vision.types import PERSON

FRAME_MAX_BYTES = 400_000


def is_camera(driver: object) -> bool:
    return isinstance(driver, CameraDriver)


def camera_live(driver: CameraDriver) -> dict[str, Any]:
    """JSON-ready view of one camera (no image bytes)."""
    cfg = driver.config
    frame = driver.grabber.latest() if driver.grabber is not None else None
    now = time.monotonic()
    size = (int(frame.image.shape[1]), int(frame.image.shape[0])) if frame else None
    detections = []
    if size is not None and driver.last_sample_seq >= 0:
        w, h = size
        for d in driver.last_detections:
            box = (d.box[0] / w, d.box[1] / h, d.box[2] / w, d.box[3] / h)
            detections.append({
                "label": d.label,
                "score": round(d.score, 3),
                "box": [round(v, 4) for v in box],
                "anchor": [round(v, 4) for v in bottom_centre(box)],
            })  # fmt: skip
    candidates = []
    for c in driver.engine.candidates.values():
        zone = next((z for z in cfg.zones if z.id == c.zone_id), None)
        candidates.append({
            "id": c.id,
            "zone": c.zone_id,
            "box": [round(v, 4) for v in c.anchor],
            "anchor": [round(v, 4) for v in bottom_centre(c.anchor)],
            "dwell_s": round(c.dwell_s, 1),
            "grace_s": zone.grace_s if zone else None,
            "attended": c.attended,
            "violation": c.violation is not None,
        })  # fmt: skip
    return {
        "name": cfg.name,
        "online": frame is not None and not driver.offline,
        "frame": None
        if frame is None
        else {
            "seq": frame.seq,
            "age_s": round(now - frame.t, 1),
            "width": size[0] if size else 0,
            "height": size[1] if size else 0,
        },
        "zones": [
            {
                "id": z.id,
                "kind": z.kind,
                "grace_s": z.grace_s,
                "polygon": [list(p) for p in z.polygon],
            }
            for z in cfg.zones
        ],
        "detections": detections,
        "candidates": candidates,
    }


def frame_jpeg(driver: CameraDriver, max_width: int = 1280) -> bytes | None:
    """The latest frame as a JPEG with people blurred, or None before the first frame."""
    frame = driver.grabber.latest() if driver.grabber is not None else None
    if frame is None:
        return None
    people = [d.box for d in driver.last_detections if d.label == PERSON]
    image = blur_people(frame.image, people) if people else frame.image
    return encode_within(image, FRAME_MAX_BYTES, quality=80, max_width=max_width)
