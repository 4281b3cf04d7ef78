"""Frame checks, crops and the YOLOX letterbox (OpenCV and numpy, no onnxruntime).

The letterbox is upstream ``yolox/data/data_augment.py::preproc`` as recorded in
``shared/models/PROVENANCE.md``: BGR 0..255, ``r = min(H / h, W / w)``, ``cv2.resize`` with
``INTER_LINEAR`` to ``(int(w * r), int(h * r))``, pasted at the top-left of a canvas filled
with 114, CHW float32 with a batch axis and no normalisation. Because the padding is at the
bottom and right, model-space boxes map back to the image by dividing by ``r`` alone.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

PAD_VALUE = 114.0

Roi = tuple[int, int, int, int]  # (x1, y1, x2, y2) in frame pixels, x2/y2 exclusive


def check_frame(frame: object) -> npt.NDArray[np.uint8]:
    """Return ``frame`` if it is a non-empty HxWx3 uint8 array, else raise ValueError."""
    if not isinstance(frame, np.ndarray):
        # One exception type for every unusable frame, so callers need one except clause.
        raise ValueError(f"frame must be a numpy array, got {type(frame).__name__}")  # noqa: TRY004
    if frame.dtype != np.uint8:
        raise ValueError(f"frame must be uint8 BGR, got dtype {frame.dtype}")
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame must be HxWx3 (BGR), got shape {frame.shape}")
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise ValueError(f"frame is empty (shape {frame.shape})")
    checked: npt.NDArray[np.uint8] = frame
    return checked


def clamp_roi(roi: Roi, frame_hw: tuple[int, int]) -> Roi:
    """Clip ``roi`` to the frame; raise ValueError if nothing of it is left."""
    x1, y1, x2, y2 = (int(v) for v in roi)
    h, w = frame_hw
    cx1, cy1 = max(0, min(x1, w)), max(0, min(y1, h))
    cx2, cy2 = max(0, min(x2, w)), max(0, min(y2, h))
    if cx2 <= cx1 or cy2 <= cy1:
        raise ValueError(f"roi {roi} does not overlap the {w}x{h} frame")
    return cx1, cy1, cx2, cy2


def single_threaded_opencv() -> None:
    """Run OpenCV's own parallel loops (``cv2.resize``) on the calling thread only.

    A letterbox resize is ~0.5 ms of work; on a 2-core gateway whose cores onnxruntime
    already uses, handing half of it to OpenCV's pool thread means waiting for that thread
    to be scheduled. Measured on the loaded 2-core VM, 270 frames each, alternated:
    median 1.24 ms single-threaded vs 1.30 ms with 2 threads, 90th percentile 4.4 vs 11.7 ms.
    Process-wide: it limits OpenCV's parallel loops (resizes, colour conversions) only.
    """
    cv2.setNumThreads(1)


def letterbox_ratio(image_hw: tuple[int, int], input_hw: tuple[int, int]) -> float:
    """The scale upstream applies: ``min(H / h, W / w)``."""
    return min(input_hw[0] / image_hw[0], input_hw[1] / image_hw[1])


def letterbox(
    frame: npt.NDArray[np.uint8],
    input_hw: tuple[int, int],
    out: npt.NDArray[np.float32] | None = None,
    *,
    pad: bool = True,
    scratch: Scratch | None = None,
) -> tuple[npt.NDArray[np.float32], float]:
    """Return the ``(1, 3, H, W)`` float32 model input and the ratio ``r``.

    The resized image is written channel by channel straight into the float tensor; this
    gives the same values as building the uint8 canvas and transposing it (a test checks)
    at about a fifth of the cost. ``out``, if given, is that tensor, reused frame after frame
    (the detector preallocates one), so the hot path allocates no 2 MB input per frame.
    ``pad=False`` leaves the padding as it is: only for an ``out`` already padded for this
    geometry (``InputBuffer`` keeps track). ``scratch`` (the resized image and its three
    planes, for this geometry) lets ``cv2.resize`` and ``cv2.split`` write into buffers
    kept from the last frame instead of allocating four arrays per frame.
    """
    h, w = frame.shape[:2]
    in_h, in_w = input_hw
    r = letterbox_ratio((h, w), input_hw)
    rw, rh = int(w * r), int(h * r)
    if out is None or out.shape != (1, 3, in_h, in_w):
        out = np.empty((1, 3, in_h, in_w), dtype=np.float32)
        pad = True
    if rw > 0 and rh > 0:
        if scratch is not None and scratch.resized.shape[:2] == (rh, rw):
            cv2.resize(frame, (rw, rh), dst=scratch.resized, interpolation=cv2.INTER_LINEAR)
            planes = cv2.split(scratch.resized, scratch.planes)
        else:
            planes = cv2.split(cv2.resize(frame, (rw, rh), interpolation=cv2.INTER_LINEAR))
        for channel, plane in enumerate(planes):
            out[0, channel, :rh, :rw] = plane
    if pad:
        out[0, :, rh:, :] = PAD_VALUE
        out[0, :, :rh, rw:] = PAD_VALUE
    return out, r


class Scratch:
    """The resized image and its planes for one letterbox geometry, reused frame after frame."""

    def __init__(self, rh: int, rw: int) -> None:
        self.resized: npt.NDArray[np.uint8] = np.empty((rh, rw, 3), dtype=np.uint8)
        self.planes = [np.empty((rh, rw), dtype=np.uint8) for _ in range(3)]


class InputBuffer:
    """A detector's model input, reused frame after frame, padded only when it must be.

    A camera's frames all have one size, so the letterboxed image covers the same
    ``rh x rw`` corner every frame and the grey padding around it (a quarter of the tensor
    for a 4:3 frame) is never overwritten: it is written again only when the geometry
    changes (another frame size, a zone crop). One worker thread owns a detector, and
    ``session.run`` has consumed the tensor before the next frame is prepared.
    """

    def __init__(self, input_hw: tuple[int, int]) -> None:
        self.input_hw = input_hw
        self.tensor: npt.NDArray[np.float32] = np.empty((1, 3, *input_hw), dtype=np.float32)
        self._padded_for: tuple[int, int] | None = None
        self._scratch: Scratch | None = None

    def fill(self, frame: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.float32], float]:
        """Letterbox ``frame`` into the buffer; returns the buffer and the ratio."""
        h, w = frame.shape[:2]
        r = letterbox_ratio((h, w), self.input_hw)
        geometry = (int(h * r), int(w * r))
        if geometry != self._padded_for and min(geometry) > 0:
            self._scratch = Scratch(*geometry)
        tensor, ratio = letterbox(
            frame,
            self.input_hw,
            self.tensor,
            pad=geometry != self._padded_for,
            scratch=self._scratch,
        )
        self._padded_for = geometry
        return tensor, ratio


def letterbox_reference(
    frame: npt.NDArray[np.uint8], input_hw: tuple[int, int]
) -> tuple[npt.NDArray[np.float32], float]:
    """Upstream ``preproc`` written the straightforward way (used by tests)."""
    h, w = frame.shape[:2]
    r = letterbox_ratio((h, w), input_hw)
    canvas = np.full((input_hw[0], input_hw[1], 3), 114, dtype=np.uint8)
    resized = cv2.resize(frame, (int(w * r), int(h * r)), interpolation=cv2.INTER_LINEAR)
    canvas[: int(h * r), : int(w * r)] = resized
    tensor = np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], dtype=np.float32)
    return tensor, r


def read_image(path: str | Path) -> npt.NDArray[np.uint8]:
    """Read an image file as BGR uint8; raise ValueError if it is missing or unreadable."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"{file}: no such file")
    try:
        data = np.fromfile(file, dtype=np.uint8)
    except OSError as exc:
        raise ValueError(f"{file}: cannot read ({exc.strerror or exc})") from exc
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ValueError(f"{file}: not a readable image (JPEG, PNG, BMP, ...)")
    return np.asarray(image, dtype=np.uint8)
