"""The shared InferenceWorker (one thread, load figures) and the SamplingPolicy rule."""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.driver import SharedResources
from tests.vision._detector_support import model_config
from vision.inference import THREAD_NAME, InferenceWorker
from vision.preprocess import read_image
from vision.sampling import SamplingPolicy
from vision.types import Detection


@pytest.fixture(scope="module")
def dog(shared_dir: Path) -> np.ndarray:
    return read_image(shared_dir / "testdata" / "images" / "darknet_dog.jpg")


@pytest.fixture
def worker(shared_dir: Path) -> Iterator[InferenceWorker]:
    w = InferenceWorker(model_config(shared_dir, threads=1))
    yield w
    w.close()


class GatedDetector:
    """Stands in for the Detector behind the worker: each call waits for ``release``."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Semaphore(0)
        self.threads: list[str] = []
        self.calls: list[object] = []

    def detect(self, frame: np.ndarray) -> list[Detection]:
        self.threads.append(threading.current_thread().name)
        self.calls.append(None)
        self.started.release()
        self.release.wait(10)
        return []

    def detect_in(self, frame: np.ndarray, roi: tuple[int, int, int, int]) -> list[Detection]:
        self.calls.append(roi)
        return self.detect(frame)


def test_worker_detects_like_the_detector_on_its_own_thread(
    worker: InferenceWorker, dog: np.ndarray
) -> None:
    async def go() -> tuple[list[Detection], list[Detection]]:
        full = await worker.detect(dog)
        crop = await worker.detect(dog, roi=(0, 100, 640, 480))
        return full, crop

    full, crop = asyncio.run(go())
    assert full == worker.detector.detect(dog)
    assert crop == worker.detector.detect_in(dog, (0, 100, 640, 480))
    assert worker.inferences == 2 and worker.errors == 0
    assert 0 < worker.busy_fraction() <= 1
    assert worker.queue_depth == 0
    stats = worker.stats()
    assert stats["inferences"] == 2 and stats["last_ms"] > 0


def test_bad_frame_error_reaches_the_caller(worker: InferenceWorker) -> None:
    with pytest.raises(ValueError, match="HxWx3"):
        asyncio.run(worker.detect(np.zeros((10, 10), np.uint8)))
    assert worker.errors == 1 and worker.queue_depth == 0


def test_requests_run_one_at_a_time_and_queue_depth_counts_waiters(
    worker: InferenceWorker,
) -> None:
    gated = GatedDetector()
    worker.detector = gated  # type: ignore[assignment]
    frame = np.zeros((8, 8, 3), np.uint8)

    async def go() -> tuple[int, float]:
        tasks = [asyncio.create_task(worker.detect(frame, roi=(0, 0, 4, 4))) for _ in range(3)]
        await asyncio.sleep(0)  # let the tasks submit
        await asyncio.to_thread(gated.started.acquire, True, 10)  # first one is running
        depth = worker.queue_depth
        started = worker._running_since
        assert started is not None
        busy = worker.busy_fraction(window_s=1.0, now=started + 1.0)  # running all along
        gated.release.set()
        await asyncio.gather(*tasks)
        return depth, busy

    depth, busy = asyncio.run(go())
    assert depth == 2  # one running, two waiting
    assert busy == pytest.approx(1.0)
    assert gated.threads == [THREAD_NAME] * 3
    assert gated.calls == [(0, 0, 4, 4), None] * 3
    assert worker.queue_depth == 0


def test_cancelled_waiting_request_is_withdrawn(worker: InferenceWorker) -> None:
    gated = GatedDetector()
    worker.detector = gated  # type: ignore[assignment]
    frame = np.zeros((8, 8, 3), np.uint8)

    async def go() -> int:
        first = asyncio.create_task(worker.detect(frame))
        await asyncio.sleep(0)
        await asyncio.to_thread(gated.started.acquire, True, 10)
        second = asyncio.create_task(worker.detect(frame))
        await asyncio.sleep(0)
        assert worker.queue_depth == 1
        second.cancel()
        with pytest.raises(asyncio.CancelledError):
            await second
        depth = worker.queue_depth
        gated.release.set()
        await first
        return depth

    assert asyncio.run(go()) == 0
    assert len(gated.threads) == 1  # the withdrawn request never ran


def test_busy_fraction_over_a_window(worker: InferenceWorker) -> None:
    # Spans are (start, end) monotonic seconds; inject two to check the arithmetic.
    worker._spans.extend([(100.0, 101.0), (104.0, 106.0)])
    assert worker.busy_fraction(window_s=10.0, now=110.0) == pytest.approx(0.3)
    assert worker.busy_fraction(window_s=5.0, now=106.0) == pytest.approx(0.4)
    assert worker.busy_fraction(window_s=1.0, now=200.0) == 0.0
    with pytest.raises(ValueError, match="window_s"):
        worker.busy_fraction(window_s=0)


def test_close_is_idempotent_and_refuses_new_work(shared_dir: Path) -> None:
    worker = InferenceWorker(model_config(shared_dir, threads=1))
    worker.close()
    worker.close()
    with pytest.raises(RuntimeError, match="closed"):
        asyncio.run(worker.detect(np.zeros((8, 8, 3), np.uint8)))
    assert not any(t.name == THREAD_NAME and t.is_alive() for t in threading.enumerate())


def test_shared_resources_give_every_camera_the_same_worker(shared_dir: Path) -> None:
    config = model_config(shared_dir, threads=1)
    shared = SharedResources()
    key = f"vision.inference:{config.path}"
    first = shared.get_or_create(key, lambda: InferenceWorker(config))
    second = shared.get_or_create(key, lambda: InferenceWorker(config))
    assert first is second
    shared.close_all()
    with pytest.raises(RuntimeError, match="closed"):
        asyncio.run(first.detect(np.zeros((8, 8, 3), np.uint8)))


# -- SamplingPolicy ------------------------------------------------------------------------


def test_sampling_base_intervals() -> None:
    policy = SamplingPolicy()
    assert policy.next_interval(False, 0.0, 0) == 1.0
    assert policy.next_interval(True, 0.0, 0) == 0.25
    assert policy.next_interval(True, 0.75, 0) == 0.25  # at the target: no stretch


def test_sampling_stretches_under_load_and_is_capped() -> None:
    policy = SamplingPolicy(idle_interval_s=1.0, active_interval_s=0.25, max_interval_s=5.0)
    assert policy.next_interval(False, 1.0, 0) == pytest.approx(1 / 0.75)
    assert policy.next_interval(False, 1.0, 2) == pytest.approx(3 / 0.75)
    assert policy.next_interval(True, 0.9, 1) == pytest.approx(0.25 * 1.2 * 2)
    assert policy.next_interval(False, 1.0, 50) == 5.0
    assert policy.next_interval(False, math.nan, 0) == pytest.approx(1 / 0.75)  # unknown = busy


@pytest.mark.parametrize(
    "kwargs",
    [
        {"active_interval_s": 0.0},
        {"active_interval_s": 2.0},
        {"idle_interval_s": 10.0},
        {"target_busy": 0.0},
    ],
)
def test_sampling_rejects_inconsistent_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SamplingPolicy(**kwargs)


@given(
    active=st.booleans(),
    busy=st.floats(-1, 2, allow_nan=False),
    more_busy=st.floats(0, 1),
    depth=st.integers(-3, 100),
    more=st.integers(0, 10),
)
def test_sampling_is_bounded_and_monotone(
    active: bool, busy: float, more_busy: float, depth: int, more: int
) -> None:
    policy = SamplingPolicy()
    base = policy.active_interval_s if active else policy.idle_interval_s
    interval = policy.next_interval(active, busy, depth)
    assert base <= interval <= policy.max_interval_s
    assert policy.next_interval(active, busy + more_busy, depth) >= interval
    assert policy.next_interval(active, busy, depth + more) >= interval
