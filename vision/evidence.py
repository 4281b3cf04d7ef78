"""Evidence snapshots: people blurred, bike and zone drawn, JPEG within a byte budget.

Privacy comes first: every person box is pixelated and blurred *before* anything is drawn
or cropped, so no copy of the image with a recognisable face ever leaves this module.
Each snapshot is a pair of JPEGs: the full frame (box and zone drawn) and a crop around
the bike. Encoding shrinks quality, then size, until the image fits ``max_bytes`` (MQTT
brokers cap payloads, e.g. AWS IoT at 128 KB).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from vision.types import Box

Image = npt.NDArray[np.uint8]

_BOX_COLOUR = (0, 0, 255)  # BGR red: the bike
_ZONE_COLOUR = (0, 255, 255)  # BGR yellow: the zone
_MIN_QUALITY = 30


@dataclass(frozen=True, slots=True)
class Snapshot:
    frame_jpeg: bytes  # whole frame, people blurred, bike box and zone drawn
    crop_jpeg: bytes  # the bike with a margin, people blurred


def _clip_box(box: Box, w: int, h: int) -> tuple[int, int, int, int]:
    x1 = max(0, min(w, int(box[0])))
    y1 = max(0, min(h, int(box[1])))
    x2 = max(0, min(w, round(box[2])))
    y2 = max(0, min(h, round(box[3])))
    return x1, y1, x2, y2


def blur_people(image: Image, people: Sequence[Box], grow: float = 0.1) -> Image:
    """Copy of ``image`` with each person box (grown by ``grow``) made unrecognisable.

    Pixelation to about 6 blocks across, then a strong Gaussian blur: pixelation alone
    leaves hard block edges some de-pixelation tools can exploit, blur alone at small
    kernels leaves faces readable.
    """
    out = image.copy()
    h, w = out.shape[:2]
    for box in people:
        bw, bh = box[2] - box[0], box[3] - box[1]
        grown = (box[0] - grow * bw, box[1] - grow * bh, box[2] + grow * bw, box[3] + grow * bh)
        x1, y1, x2, y2 = _clip_box(grown, w, h)
        if x2 - x1 < 2 or y2 - y1 < 2:
            continue
        region = out[y1:y2, x1:x2]
        rw, rh = region.shape[1], region.shape[0]
        blocks_x = max(1, min(6, rw // 4))
        blocks_y = max(1, round(blocks_x * rh / rw))
        small = cv2.resize(region, (blocks_x, blocks_y), interpolation=cv2.INTER_AREA)
        coarse = cv2.resize(small, (rw, rh), interpolation=cv2.INTER_NEAREST)
        k = max(3, (min(rw, rh) // 4) | 1)
        out[y1:y2, x1:x2] = cv2.GaussianBlur(coarse, (k, k), 0)
    return out


def annotate(image: Image, bike: Box, zone_px: Sequence[tuple[int, int]]) -> Image:
    """Copy of ``image`` with the zone outline and the bike box drawn."""
    out = image.copy()
    h, w = out.shape[:2]
    thick = max(2, round(min(w, h) / 240))
    pts = np.array(zone_px, dtype=np.int32).reshape(-1, 1, 2)
    cv2.polylines(out, [pts], isClosed=True, color=_ZONE_COLOUR, thickness=thick)
    x1, y1, x2, y2 = _clip_box(bike, w, h)
    cv2.rectangle(out, (x1, y1), (x2, y2), _BOX_COLOUR, thick)
    return out


def crop_around(image: Image, box: Box, margin: float) -> Image:
    h, w = image.shape[:2]
    bw, bh = box[2] - box[0], box[3] - box[1]
    grown = (box[0] - margin * bw, box[1] - margin * bh, box[2] + margin * bw, box[3] + margin * bh)
    x1, y1, x2, y2 = _clip_box(grown, w, h)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return image.copy()
    return image[y1:y2, x1:x2].copy()


def encode_within(image: Image, max_bytes: int, quality: int = 80, max_width: int = 1280) -> bytes:
    """JPEG of ``image`` no larger than ``max_bytes``: lower quality first, then scale."""
    img = image
    if img.shape[1] > max_width:
        scale = max_width / img.shape[1]
        size = (max_width, max(1, round(img.shape[0] * scale)))
        img = np.asarray(cv2.resize(img, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    while True:
        q = quality
        while q >= _MIN_QUALITY:
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])
            if not ok:
                raise ValueError("JPEG encoding failed")
            if len(buf) <= max_bytes:
                return buf.tobytes()
            q -= 10
        if img.shape[1] <= 64:
            raise ValueError(f"cannot fit a JPEG into {max_bytes} bytes")
        w, h = img.shape[1], img.shape[0]
        size = (max(1, w * 3 // 4), max(1, h * 3 // 4))
        img = np.asarray(cv2.resize(img, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


@dataclass(frozen=True, slots=True)
class SnapshotLimits:
    """Size and look of the two evidence JPEGs (from the camera's ``evidence`` settings)."""

    max_bytes: int = 100_000
    quality: int = 80
    max_width: int = 1280
    crop_margin: float = 0.3


def make_snapshot(
    frame: Image,
    bike: Box,
    people: Sequence[Box],
    zone_px: Sequence[tuple[int, int]],
    limits: SnapshotLimits = SnapshotLimits(),
) -> Snapshot:
    """Blur people, then draw and crop; both JPEGs within ``limits.max_bytes``. Pixel boxes."""
    private = blur_people(frame, people)
    full = annotate(private, bike, zone_px)
    crop = crop_around(private, bike, limits.crop_margin)
    return Snapshot(
        frame_jpeg=encode_within(full, limits.max_bytes, limits.quality, limits.max_width),
        crop_jpeg=encode_within(crop, limits.max_bytes, limits.quality, limits.max_width),
    )


def appearance_signature(frame: Image, box: Box, size: int = 8) -> tuple[float, ...]:
    """A tiny grey thumbnail of the box, zero-mean and unit-norm (lighting-invariant NCC)."""
    h, w = frame.shape[:2]
    x1, y1, x2, y2 = _clip_box(box, w, h)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return ()
    grey = cv2.cvtColor(frame[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY)
    thumb = cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA).astype(np.float64)
    thumb -= thumb.mean()
    norm = float(np.linalg.norm(thumb))
    if norm == 0:
        return ()
    return tuple(float(v) for v in (thumb / norm).ravel())


def draw_zones(image: Image, zones: Sequence[tuple[str, Sequence[tuple[float, float]]]]) -> Image:
    """Copy of ``image`` with each (label, normalised polygon) outlined and named.

    For installers checking zone placement: a bike counts as in a zone when the middle of
    its box's bottom edge (where its wheels touch the floor) is inside the outline.
    """
    out = image.copy()
    h, w = out.shape[:2]
    thick = max(2, round(min(w, h) / 240))
    scale = max(0.5, min(w, h) / 800)
    for label, polygon in zones:
        pts = np.array([(round(x * w), round(y * h)) for x, y in polygon], dtype=np.int32)
        cv2.polylines(
            out, [pts.reshape(-1, 1, 2)], isClosed=True, color=_ZONE_COLOUR, thickness=thick
        )
        x, y = int(pts[:, 0].min()), int(pts[:, 1].min())
        org = (x + 4, max(int(20 * scale), y + int(20 * scale)))
        cv2.putText(
            out,
            label,
            org,
            cv2.FONT_HERSHEY_SIMPLEX,
            0.6 * scale,
            (0, 0, 0),
            thick + 2,
            cv2.LINE_AA,
        )
        cv2.putText(
            out, label, org, cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, _ZONE_COLOUR, thick, cv2.LINE_AA
        )
    return out


def save_jpeg(path: str, image: Image, quality: int = 90) -> bool:
    """Write ``image`` as a JPEG file; False if OpenCV could not (bad folder or name)."""
    return bool(cv2.imwrite(path, image, [cv2.IMWRITE_JPEG_QUALITY, quality]))


def shrink_jpeg(data: bytes, max_bytes: int) -> bytes | None:
    """``data`` (an evidence JPEG, already privacy-processed) re-encoded to at most
    ``max_bytes``, or ``None`` when it cannot be decoded or made that small. Used by the
    forwarder, through a hook the agent wiring provides, when a broker's Maximum Packet
    Size is below the snapshot budget (issue 9 item 2)."""
    img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        return None
    try:
        return encode_within(np.asarray(img, dtype=np.uint8), max_bytes)
    except ValueError:
        return None
