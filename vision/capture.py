"""Camera capture through OpenCV: one owned thread per camera, keeping only the latest frame.

Sources: ``rtsp://`` and ``http(s)://`` (MJPEG) streams through the FFmpeg backend with
open/read timeouts (RTSP over TCP unless ``OPENCV_FFMPEG_CAPTURE_OPTIONS`` says otherwise),
USB cameras as ``/dev/videoN`` or a bare index, and video files (paced at their own frame
rate, so a clip behaves like a camera; a looping file is reopened at each end rather than
rewound on the open handle, so a file that was removed or replaced is noticed as an
unplugged or swapped camera).

The thread is the only retry loop for a lost stream: it reopens with capped exponential
backoff. The driver never retries; it only notices that frames stopped (camera offline)
and started again (recovered). Frames are never queued: a slow consumer simply sees the
newest one, as Frigate drops frames rather than wait for its detector.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]

_FIRST_RETRY_S = 0.5


@dataclass(frozen=True, slots=True)
class Frame:
    image: Image
    seq: int  # increases by one per frame read; tells a new frame from the same one
    t: float  # time.monotonic() when it was read


def source_kind(source: str) -> str:
    """'stream', 'usb' or 'file' for a configured source string."""
    lowered = source.lower()
    if lowered.startswith(("rtsp://", "rtsps://", "http://", "https://")):
        return "stream"
    if source.isdigit() or source.startswith("/dev/video"):
        return "usb"
    return "file"


def redact(source: str) -> str:
    """A source string safe for logs: credentials in URLs are hidden."""
    if "://" in source and "@" in source:
        scheme, rest = source.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return source


def open_capture(source: str, open_timeout_s: float, read_timeout_s: float) -> cv2.VideoCapture:
    """Open ``source`` with the backend and timeouts that suit its kind (may not be opened)."""
    kind = source_kind(source)
    if kind == "stream":
        if source.lower().startswith("rtsp") and "OPENCV_FFMPEG_CAPTURE_OPTIONS" not in os.environ:
            # UDP RTSP loses packets on busy Wi-Fi and smears frames; TCP is the sane default.
            os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = "rtsp_transport;tcp"
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            int(read_timeout_s * 1000),
        ]
        return cv2.VideoCapture(source, cv2.CAP_FFMPEG, params)
    if kind == "usb":
        device: int | str = int(source) if source.isdigit() else source
        cap = cv2.VideoCapture(device, cv2.CAP_V4L2)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # we want the newest frame, not a backlog
        return cap
    return cv2.VideoCapture(source)


class FrameGrabber:
    """Reads ``source`` on its own thread; :meth:`latest` returns the newest frame."""

    def __init__(
        self,
        source: str,
        *,
        name: str,
        open_timeout_s: float = 5.0,
        read_timeout_s: float = 5.0,
        reconnect_max_s: float = 60.0,
        file_end: str = "stop",
    ) -> None:
        self.source = source
        self.name = name
        self.kind = source_kind(source)
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self.reconnect_max_s = reconnect_max_s
        self.file_end = file_end
        self._lock = threading.Lock()
        self._latest: Frame | None = None
        self._seq = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ended = False  # a video file reached its end with file_end="stop"
        self._looped = False  # a video file reached its end with file_end="loop"
        self.last_error = ""

    # -- consumer side ----------------------------------------------------------------

    def latest(self) -> Frame | None:
        with self._lock:
            return self._latest

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("grabber already started")
        self._thread = threading.Thread(target=self._run, name=f"capture[{self.name}]", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to stop and wait up to ``timeout`` (a read may be blocking)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("capture[%s] did not stop within %.0f s", self.name, timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- thread -------------------------------------------------------------------------

    def _publish(self, image: Image) -> None:
        with self._lock:
            self._seq += 1
            self._latest = Frame(image, self._seq, time.monotonic())

    def _run(self) -> None:
        failures = 0
        was_up = False
        while not self._stop.is_set():
            cap = open_capture(self.source, self.open_timeout_s, self.read_timeout_s)
            try:
                if not cap.isOpened():
                    self.last_error = f"cannot open {redact(self.source)}"
                else:
                    if not was_up:
                        log.info("capture[%s] opened %s", self.name, redact(self.source))
                    got = self._read_all(cap)
                    if got:
                        failures = 0
                        was_up = True
            finally:
                cap.release()
            if self._stop.is_set():
                return
            if self.ended:
                log.info("capture[%s] video file ended", self.name)
                return
            if self._looped:
                self._looped = False
                continue
            if was_up:
                log.warning("capture[%s] lost %s; reopening", self.name, redact(self.source))
                was_up = False
            failures += 1
            delay = min(self.reconnect_max_s, _FIRST_RETRY_S * 2 ** min(failures - 1, 10))
            # Jitter spreads reconnects of cameras that failed together (one PoE switch).
            self._stop.wait(random.uniform(delay / 2, delay))

    def _read_all(self, cap: cv2.VideoCapture) -> bool:
        """Read until failure or stop; returns whether any frame arrived."""
        got_any = False
        period = 0.0
        if self.kind == "file":
            fps = cap.get(cv2.CAP_PROP_FPS)
            period = 1.0 / fps if fps and 0 < fps < 1000 else 0.04
        next_due = time.monotonic()
        while not self._stop.is_set():
            ok, image = cap.read()
            if not ok or image is None:
                if self.kind == "file" and got_any:
                    # Reopen, not rewind: the open handle would outlive the file's removal.
                    self._looped = self.file_end == "loop"
                    self.ended = not self._looped
                return got_any
            got_any = True
            self._publish(np.ascontiguousarray(image, dtype=np.uint8))
            if period:
                next_due += period
                delay = next_due - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)
                else:
                    next_due = time.monotonic()
        return got_any


def clip_frames(path: str | Path) -> Iterator[tuple[float, Image]]:
    """Every frame of a video file with its clip time in seconds (index / fps).

    Clip time, not wall time: replay and tests run as fast as the CPU allows.
    """
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise OSError(f"cannot open video {path}")
        fps = cap.get(cv2.CAP_PROP_FPS)
        if not fps or fps <= 0 or fps > 1000:
            fps = 25.0
        index = 0
        while True:
            ok, image = cap.read()
            if not ok or image is None:
                return
            yield index / fps, np.ascontiguousarray(image, dtype=np.uint8)
            index += 1
    finally:
        cap.release()


def write_clip(path: str | Path, frames: Iterator[Image], fps: float) -> int:
    """Write BGR frames as an MJPG AVI (works with opencv-python-headless); returns count."""
    writer: cv2.VideoWriter | None = None
    count = 0
    try:
        for image in frames:
            if writer is None:
                h, w = image.shape[:2]
                fourcc = cv2.VideoWriter.fourcc(*"MJPG")
                writer = cv2.VideoWriter(str(path), fourcc, fps, (w, h))
                if not writer.isOpened():
                    raise OSError(f"cannot write video {path}")
            writer.write(image)
            count += 1
    finally:
        if writer is not None:
            writer.release()
    return count


def grab_one(source: str, open_timeout_s: float = 5.0, read_timeout_s: float = 5.0) -> Image:
    """One current frame of ``source`` (installer tools); raises OSError if none arrives.

    Streams get a few reads first: the opening frames of an H.264 stream are often grey
    until the next key frame.
    """
    cap = open_capture(source, open_timeout_s, read_timeout_s)
    try:
        if not cap.isOpened():
            raise OSError(f"cannot open {redact(source)}")
        reads = 1 if source_kind(source) == "file" else 5
        last: Image | None = None
        deadline = time.monotonic() + open_timeout_s + read_timeout_s
        while reads > 0 and time.monotonic() < deadline:
            ok, image = cap.read()
            if ok and image is not None:
                last = np.ascontiguousarray(image, dtype=np.uint8)
                reads -= 1
            elif last is None:
                break
        if last is None:
            raise OSError(f"no frame from {redact(source)}")
        return last
    finally:
        cap.release()
