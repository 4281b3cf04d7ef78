"""Build the README demo clip from the shared test photos (no camera needed).

    python examples/make_demo_clip.py --shared ../shared --out /tmp/edge-demo/demo.avi

The clip is 20 s of an empty indoor corridor (jetson_room_3.jpg) at 5 fps; at 2 s a city
bike (cropped from bikeparking_394.png) appears standing on the floor and stays; from 6 s
to 9 s a pedestrian (cropped from jetson_peds_0.jpg) walks past. Pair it with
examples/camera-demo.yaml (file_end: loop), whose corridor zone covers that floor.
MJPG in an AVI container, which opencv-python-headless can both write and read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

W, H, FPS, SECONDS = 640, 480, 5.0, 20.0


def paste(img: np.ndarray, crop: np.ndarray, x: int, y: int, h: int) -> np.ndarray:
    scale = h / crop.shape[0]
    c = cv2.resize(crop, (max(1, int(crop.shape[1] * scale)), h))
    out = img.copy()
    x0, y0 = max(0, x), max(0, y)
    x2, y2 = min(W, x + c.shape[1]), min(H, y + h)
    if x2 > x0 and y2 > y0:
        out[y0:y2, x0:x2] = c[y0 - y : y2 - y, x0 - x : x2 - x]
    return out


def read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    if image is None:
        sys.exit(f"error: cannot read {path}")
    return image


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", required=True, help="the shared folder (../shared)")
    parser.add_argument("--out", required=True, help="output .avi file")
    args = parser.parse_args()
    images = Path(args.shared) / "testdata" / "images"
    corridor = cv2.resize(read(images / "jetson_room_3.jpg"), (W, H))
    bike = read(images / "bikeparking_394.png")[205:475, 105:415]
    person = read(images / "jetson_peds_0.jpg")[130:970, 440:750]

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"MJPG"), FPS, (W, H))
    if not writer.isOpened():
        sys.exit(f"error: cannot write {out}")
    try:
        for i in range(int(SECONDS * FPS)):
            t = i / FPS
            frame = corridor
            if t >= 2.0:
                frame = paste(frame, bike, 200, 230, 220)
            if 6.0 <= t < 9.0:
                frame = paste(frame, person, int(-120 + (t - 6.0) * 260), 130, 340)
            writer.write(frame)
    finally:
        writer.release()
    print(f"{out}: {int(SECONDS * FPS)} frames, {W}x{H} at {FPS:g} fps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
