"""Power cuts at the worst moments of a violation's life, and what the restart does.

A "power cut" here: the sink has just made the event durable (it is in the list) and
then the process dies before the driver can write anything more. The fake sink raises
after storing the event and switches the driver's state saving off, so nothing written
after the commit reaches the disk, as after a real crash.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

from agent.driver import DriverContext
from agent.events import Event
from tests.sinks import ListSink
from tests.vision.clips import State, camera_config, load_props, make_clip
from tests.vision.test_camera_driver import NoDetections, _run_until
from vision.camera_driver import CameraDriver, inference_key


class PowerCutError(Exception):
    pass


class HangOn(ListSink):
    """Never completes the first ``event_type`` emit (a commit stuck on a full disk)."""

    def __init__(self, event_type: str) -> None:
        super().__init__()
        self._type = event_type
        self.hung = False

    async def emit(self, event: Event) -> None:
        if event.type == self._type:
            self.hung = True
            await asyncio.Event().wait()
        await super().emit(event)


class CutAfter(ListSink):
    """Stores every event; after the first of ``event_type`` the driver 'loses power'."""

    def __init__(self, event_type: str, driver: CameraDriver) -> None:
        super().__init__()
        self._type = event_type
        self._driver = driver
        self.cut = False

    async def emit(self, event: Event) -> None:
        await super().emit(event)
        if event.type == self._type and not self.cut:
            self.cut = True
            self._driver._save = lambda: None  # type: ignore[method-assign]
            raise PowerCutError


def test_cut_right_after_violation_started_resends_the_same_violation(shared_dir, tmp_path) -> None:
    props = load_props(shared_dir)
    clip = make_clip(tmp_path / "clip.avi", props, 4, lambda t: State(bike=True))
    cfg = camera_config(
        shared_dir,
        source=str(clip),
        zone={"grace_s": 1.0},
        sampling={"idle_interval_s": 0.25, "active_interval_s": 0.25},
        file_end="loop",
    )
    ctx = DriverContext(gateway_id="gw", state_dir=tmp_path / "state")

    first = CameraDriver(cfg, ctx)
    cut = CutAfter("parking.violation.started", first)
    before, after = _interrupted_then_restarted(
        ctx,
        _until_cut(first, cut),
        cut,
        lambda: cut.cut,
        CameraDriver(cfg, ctx),
        "parking.violation.started",
        timeout=20,
    )
    (first_started,) = before
    (again,) = after
    # The same violation, under the same event id: the platform de-duplicates it.
    assert again.id == first_started.id
    assert again.data["violation_id"] == first_started.data["violation_id"]


def test_stop_while_a_clear_is_not_yet_durable_does_not_lose_it(shared_dir, tmp_path) -> None:
    props = load_props(shared_dir)
    # The bike stands for 5 s, then is gone; the clip plays once per driver run.
    clip = make_clip(tmp_path / "clip.avi", props, 12, lambda t: State(bike=t < 5.0))
    cfg = camera_config(
        shared_dir,
        source=str(clip),
        zone={"grace_s": 1.0, "gap_tolerance_s": 2.0},
        sampling={"idle_interval_s": 0.25, "active_interval_s": 0.25},
        file_end="stop",
    )
    ctx = DriverContext(gateway_id="gw", state_dir=tmp_path / "state")

    hang = HangOn("parking.violation.cleared")
    # The agent stops (the driver is cancelled) while the clear is not stored.
    before, after = _interrupted_then_restarted(
        ctx,
        CameraDriver(cfg, ctx).run(hang),
        hang,
        lambda: hang.hung,
        CameraDriver(cfg, ctx),
        "parking.violation.cleared",
        timeout=30,
    )
    (started,) = before
    assert started.type == "parking.violation.started"
    # Restarted, the driver still knows the violation and clears it under its id.
    assert [e.type for e in after] == ["parking.violation.cleared"]
    assert after[0].data["violation_id"] == started.data["violation_id"]


def _interrupted_then_restarted(
    ctx: DriverContext,
    first_run: Coroutine[Any, Any, None],
    first_sink: ListSink,
    interrupted: Callable[[], bool],
    second: CameraDriver,
    wanted: str,
    *,
    timeout: float,
) -> tuple[list[Event], list[Event]]:
    """Run ``first_run`` until ``interrupted()``, stop it, then run ``second`` (same state
    directory) until it emits ``wanted``; the parking events of each run."""
    after = ListSink()

    async def main() -> None:
        try:
            await _run_until([first_run], interrupted, timeout)
            await _run_until([second.run(after)], lambda: bool(after.of_type(wanted)), timeout)
        finally:
            ctx.shared.close_all()

    asyncio.run(main())
    return first_sink.of_type("parking.violation."), after.of_type("parking.violation.")


async def _until_cut(driver: CameraDriver, sink: CutAfter) -> None:
    with contextlib.suppress(PowerCutError):
        await driver.run(sink)


def test_offline_alarm_is_neither_repeated_nor_left_open_across_restarts(
    shared_dir, tmp_path
) -> None:
    props = load_props(shared_dir)
    clip = make_clip(tmp_path / "clip.avi", props, 4, lambda t: State(bike=False))
    dark = camera_config(
        shared_dir, source=str(tmp_path / "unplugged.avi"), offline_after_s=0.5, reconnect_max_s=1
    )
    lit = camera_config(shared_dir, source=str(clip), offline_after_s=0.5, file_end="loop")
    ctx = DriverContext(gateway_id="gw", state_dir=tmp_path / "state")
    ctx.shared.get_or_create(inference_key(dark), NoDetections)
    runs = [ListSink(), ListSink(), ListSink()]

    async def main() -> None:
        first, still_dark, back = runs
        await _run_until([CameraDriver(dark, ctx).run(first)], lambda: bool(first.events), 10)
        # Restarted while the camera is still unplugged: no second alarm.
        task = asyncio.create_task(CameraDriver(dark, ctx).run(still_dark))
        await asyncio.sleep(2.0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        # Restarted again, and the camera is back: the recovery is reported.
        await _run_until([CameraDriver(lit, ctx).run(back)], lambda: bool(back.events), 10)

    asyncio.run(main())
    assert [e.type for e in runs[0].events] == ["camera.offline"]
    assert runs[1].events == []
    assert [e.type for e in runs[2].events] == ["camera.online"]


class FailingInference(NoDetections):
    """Seam fake: the runtime fails on every other frame with a non-RuntimeError."""

    def __init__(self) -> None:
        self.calls = 0
        self.closed = False

    async def detect(self, frame: object, roi: object = None) -> list:
        self.calls += 1
        if self.calls % 2:
            raise OrtFailError("[ONNXRuntimeError] : 1 : FAIL : allocation failed")
        return []


class OrtFailError(Exception):
    """Like onnxruntime's Fail: derives from Exception, not RuntimeError."""


def test_an_inference_error_skips_the_sample_and_keeps_the_camera(shared_dir, tmp_path) -> None:
    props = load_props(shared_dir)
    clip = make_clip(tmp_path / "clip.avi", props, 4, lambda t: State(bike=True))
    cfg = camera_config(
        shared_dir,
        source=str(clip),
        sampling={"idle_interval_s": 0.1, "active_interval_s": 0.1},
        file_end="loop",
    )
    ctx = DriverContext(gateway_id="gw", state_dir=tmp_path / "state")
    worker = ctx.shared.get_or_create(inference_key(cfg), FailingInference)

    async def main() -> None:
        # _run_until surfaces a crashed driver task as an exception.
        await _run_until([CameraDriver(cfg, ctx).run(ListSink())], lambda: worker.calls >= 10, 15)

    asyncio.run(main())
    assert worker.calls >= 10
