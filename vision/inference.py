"""One inference worker shared by all cameras: a Detector on one dedicated thread.

The agent creates it once per model file through ``SharedResources``::

    worker = context.shared.get_or_create(
        f"vision.inference:{model.path}", lambda: InferenceWorker(model)
    )
    detections = await worker.detect(frame, roi=zone_rect)
    interval = policy.next_interval(open_candidate, worker.busy_fraction(), worker.queue_depth)

All requests run one at a time on a single thread named ``vision-inference`` (onnxruntime
uses ``config.threads`` threads inside each call), so the CPU share of vision is fixed
however many cameras there are. The worker does not drop requests; cameras read
:meth:`InferenceWorker.busy_fraction` and :attr:`InferenceWorker.queue_depth` and sample
less often instead (see :mod:`vision.sampling`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from vision.detector import Detector
from vision.model_config import ModelConfig
from vision.preprocess import Roi
from vision.types import Box, Detection
from vision.verify import Verdict

THREAD_NAME = "vision-inference"
DEFAULT_WINDOW_S = 10.0
_MAX_SPANS = 4096
_T = TypeVar("_T")


def _name_thread() -> None:
    threading.current_thread().name = THREAD_NAME


class InferenceWorker:
    """Owns one :class:`Detector` and one single-thread executor; ``close()`` stops it."""

    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self.detector = Detector(config)  # raises ModelVerificationError before any thread
        self._executor = ThreadPoolExecutor(max_workers=1, initializer=_name_thread)
        self._lock = threading.Lock()
        self._waiting = 0
        self._running_since: float | None = None
        self._spans: deque[tuple[float, float]] = deque(maxlen=_MAX_SPANS)
        self._closed = False
        self.inferences = 0
        self.errors = 0
        self.last_ms = 0.0

    # -- load information ---------------------------------------------------------------

    @property
    def queue_depth(self) -> int:
        """Requests submitted but not yet started (the running one is not counted)."""
        with self._lock:
            return self._waiting

    @property
    def closed(self) -> bool:
        return self._closed

    def busy_fraction(self, window_s: float = DEFAULT_WINDOW_S, now: float | None = None) -> float:
        """Share of the last ``window_s`` seconds the worker spent inferring (0..1).

        Includes the request running now. ``now`` is a ``time.monotonic()`` value (tests).
        """
        if window_s <= 0:
            raise ValueError(f"window_s must be positive, got {window_s}")
        end = time.monotonic() if now is None else now
        start = end - window_s
        with self._lock:
            spans = list(self._spans)
            if self._running_since is not None:
                spans.append((self._running_since, end))
        busy = sum(max(0.0, min(e, end) - max(s, start)) for s, e in spans)
        return min(1.0, busy / window_s)

    def stats(self) -> dict[str, float]:
        """Counters for health reporting and the benchmark."""
        return {
            "inferences": float(self.inferences),
            "errors": float(self.errors),
            "last_ms": self.last_ms,
            "busy_fraction": self.busy_fraction(),
            "queue_depth": float(self.queue_depth),
        }

    # -- work -----------------------------------------------------------------------------

    async def detect(self, frame: npt.NDArray[np.uint8], roi: Roi | None = None) -> list[Detection]:
        """Detect in ``frame`` (or only in ``roi``) on the worker thread.

        Raises ``ValueError`` for an unusable frame and ``RuntimeError`` once closed.
        Cancelling the caller before the request starts withdraws it. The frame is read on
        the worker thread: do not modify it until this returns.
        """
        if roi is None:
            return await self._submit(self.detector.detect, frame)
        return await self._submit(self.detector.detect_in, frame, roi)

    async def verify(self, frame: npt.NDArray[np.uint8], box: Box) -> Verdict:
        """Re-check a two-wheeler on its crop (``Detector.verify``) on the worker thread."""
        return await self._submit(self.detector.verify, frame, box)

    async def _submit(self, call: Callable[..., _T], *args: object) -> _T:
        with self._lock:
            if self._closed:
                raise RuntimeError("inference worker is closed")
            self._waiting += 1
            try:
                future = self._executor.submit(self._run, call, *args)
            except RuntimeError:  # executor shut down between the check and submit
                self._waiting -= 1
                raise
        future.add_done_callback(self._on_done)
        return await asyncio.wrap_future(future)

    def _on_done(self, future: Future[Any]) -> None:
        if future.cancelled():  # withdrawn before it started: _run never ran
            with self._lock:
                self._waiting -= 1

    def _run(self, call: Callable[..., _T], *args: object) -> _T:
        started = time.monotonic()
        with self._lock:
            self._waiting -= 1
            self._running_since = started
        try:
            return call(*args)
        except Exception:
            self.errors += 1
            raise
        finally:
            ended = time.monotonic()
            with self._lock:
                self._running_since = None
                self._spans.append((started, ended))
                self.inferences += 1
                self.last_ms = (ended - started) * 1000

    def close(self) -> None:
        """Withdraw waiting requests and stop the thread (waits for a running one). Idempotent.

        Callers still awaiting a withdrawn request see ``asyncio.CancelledError``; the agent
        stops the cameras before it closes shared resources, so normally there are none.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._executor.shutdown(wait=True, cancel_futures=True)
