"""The camera driver end to end: real video files through real capture, health events,
and a broken camera next to working drivers."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

from agent.driver import DriverContext
from drivers.synthetic.config import SyntheticConfig
from drivers.synthetic.driver import SyntheticDriver
from tests.sinks import ListSink
from tests.spine.agentproc import wait_for
from tests.vision.clips import State, camera_config, load_props, make_clip
from vision.camera_driver import CameraDriver, inference_key
from vision.capture import FrameGrabber
from vision.types import Detection


class NoDetections:
    """Seam fake of the shared inference worker: sees nothing, never busy."""

    queue_depth = 0

    async def detect(self, frame: np.ndarray, roi: object = None) -> list[Detection]:
        return []

    def busy_fraction(self) -> float:
        return 0.0

    def close(self) -> None:
        pass


async def _run_until(coros, predicate, timeout: float) -> None:
    tasks = [asyncio.create_task(c) for c in coros]
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                for t in tasks:
                    if t.done():
                        t.result()  # surface a crash
                await asyncio.sleep(0.05)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def test_violation_with_evidence_then_stream_end_goes_offline(shared_dir, tmp_path) -> None:
    props = load_props(shared_dir)
    clip = make_clip(tmp_path / "clip.avi", props, 5, lambda t: State(bike=True))
    cfg = camera_config(
        shared_dir,
        source=str(clip),
        zone={"grace_s": 1.5, "gap_tolerance_s": 5},
        sampling={"idle_interval_s": 0.25, "active_interval_s": 0.25},
        offline_after_s=1.0,
    )
    ctx = DriverContext(gateway_id="gw", state_dir=tmp_path / "state")
    sink = ListSink()

    async def main() -> None:
        try:
            driver = CameraDriver(cfg, ctx)
            await _run_until(
                [driver.run(sink)], lambda: bool(sink.of_type("camera.offline")), timeout=30
            )
        finally:
            ctx.shared.close_all()

    asyncio.run(main())
    (started,) = sink.of_type("parking.violation.started")
    assert started.subject == "cam1/corridor-a"
    assert started.data["violation_id"] == started.id
    assert len(started.attachments) == 4
    listed = started.data["evidence"]
    assert [(e["role"], e["view"]) for e in listed] == [
        ("first_sighting", "frame"),
        ("first_sighting", "crop"),
        ("confirmation", "frame"),
        ("confirmation", "crop"),
    ]
    for entry, att in zip(listed, started.attachments, strict=True):
        assert entry["sha256"] == hashlib.sha256(att.data).hexdigest()
        assert len(att.data) <= 100_000
        img = cv2.imdecode(np.frombuffer(att.data, np.uint8), cv2.IMREAD_COLOR)
        assert img is not None and img.size > 0
    (offline,) = sink.of_type("camera.offline")
    assert offline.priority.label == "alarm"
    assert "ended" in offline.data["detail"]
    # The violation outlives the stream: it is not cleared just because frames stopped.
    assert sink.of_type("parking.violation.cleared") == []
    assert (tmp_path / "state" / "camera-cam1.dwell.json").exists()


def test_unplugged_camera_alarms_recovers_and_others_keep_running(shared_dir, tmp_path) -> None:
    props = load_props(shared_dir)
    clip = make_clip(tmp_path / "clip.avi", props, 3, lambda t: State())
    missing = tmp_path / "cam" / "stream.avi"  # the camera is not there yet
    cfg = camera_config(
        shared_dir,
        source=str(missing),
        offline_after_s=0.5,
        reconnect_max_s=1.0,
        file_end="loop",
    )
    (tmp_path / "state").mkdir()
    ctx = DriverContext(gateway_id="gw", state_dir=tmp_path / "state")
    ctx.shared.get_or_create(inference_key(cfg), NoDetections)
    synthetic = SyntheticDriver(
        SyntheticConfig(name="ticker", kind="synthetic", count=0, rate_hz=400), ctx
    )
    sink = ListSink()

    async def main() -> None:
        camera = CameraDriver(cfg, ctx)
        tasks = [asyncio.create_task(camera.run(sink)), asyncio.create_task(synthetic.run(sink))]
        try:
            await sink.wait_for("camera.offline", timeout=10)
            ticks_while_offline = len(sink.of_type("synthetic."))
            missing.parent.mkdir()
            shutil.copy(clip, missing)  # plugged back in
            await sink.wait_for("camera.online", timeout=15)
            assert len(sink.of_type("synthetic.")) > ticks_while_offline
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())
    types = [e.type for e in sink.events if e.type.startswith("camera.")]
    assert types == ["camera.offline", "camera.online"]
    assert sink.of_type("camera.online")[0].data["was_offline_s"] > 0


def test_two_cameras_one_broken(shared_dir, tmp_path) -> None:
    props = load_props(shared_dir)
    clip = make_clip(tmp_path / "clip.avi", props, 4, lambda t: State(bike=True))
    good = camera_config(
        shared_dir,
        source=str(clip),
        name="good",
        zone={"grace_s": 1.0},
        sampling={"idle_interval_s": 0.25, "active_interval_s": 0.25},
        file_end="loop",
    )
    bad = camera_config(
        shared_dir,
        source=str(tmp_path / "nope.avi"),
        name="bad",
        offline_after_s=0.5,
    )
    ctx = DriverContext(gateway_id="gw", state_dir=tmp_path / "state")
    sink = ListSink()

    def done() -> bool:
        return bool(sink.of_type("parking.violation.started")) and bool(
            sink.of_type("camera.offline")
        )

    async def main() -> None:
        try:
            await _run_until(
                [CameraDriver(good, ctx).run(sink), CameraDriver(bad, ctx).run(sink)],
                done,
                timeout=30,
            )
        finally:
            ctx.shared.close_all()

    asyncio.run(main())
    assert [e.subject for e in sink.of_type("camera.offline")] == ["bad"]
    assert [e.subject for e in sink.of_type("parking.violation.started")] == ["good/corridor-a"]


def test_driver_restart_mid_violation_sends_no_duplicate(shared_dir, tmp_path) -> None:
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
    sink = ListSink()

    async def main() -> None:
        try:
            await _run_until(
                [CameraDriver(cfg, ctx).run(sink)],
                lambda: bool(sink.of_type("parking.violation.started")),
                timeout=20,
            )
            # The supervisor restarts the driver (new instance, same state directory).
            second = CameraDriver(cfg, ctx)
            task = asyncio.create_task(second.run(sink))
            await asyncio.sleep(3)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            assert second.engine.open_violations()
        finally:
            ctx.shared.close_all()

    asyncio.run(main())
    assert len(sink.of_type("parking.violation.started")) == 1


class MjpegCamera:
    """A real HTTP MJPEG camera on localhost that can be unplugged and plugged back in."""

    def __init__(self, frame: np.ndarray) -> None:
        self._jpeg = cv2.imencode(".jpg", frame)[1].tobytes()
        self._live = threading.Event()
        self._pause = threading.Event()  # never set: an interruptible sleep
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                data = camera._jpeg
                head = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                try:
                    while camera._live.is_set():
                        self.wfile.write(head % len(data) + data + b"\r\n")
                        camera._pause.wait(0.1)  # ~10 fps
                except OSError:
                    pass

        self._handler = Handler
        self.port = 0
        self._server: ThreadingHTTPServer | None = None

    def plug(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._live.set()
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def unplug(self) -> None:
        self._live.clear()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"


def test_http_mjpeg_camera_unplugged_and_back(shared_dir, tmp_path) -> None:
    props = load_props(shared_dir)
    cam = MjpegCamera(props.background)
    cam.plug()
    cfg = camera_config(
        shared_dir,
        source=cam.url,
        offline_after_s=1.0,
        read_timeout_s=1.0,
        open_timeout_s=1.0,
        reconnect_max_s=1.0,
    )
    ctx = DriverContext(gateway_id="gw", state_dir=tmp_path / "state")
    ctx.shared.get_or_create(inference_key(cfg), NoDetections)
    sink = ListSink()

    async def main() -> None:
        task = asyncio.create_task(CameraDriver(cfg, ctx).run(sink))
        try:
            await asyncio.sleep(1.5)
            assert sink.of_type("camera.") == []  # streaming fine
            cam.unplug()
            await sink.wait_for("camera.offline", timeout=15)
            cam.plug()
            await sink.wait_for("camera.online", timeout=15)
        finally:
            cam.unplug()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
    assert [e.type for e in sink.of_type("camera.")] == ["camera.offline", "camera.online"]


def test_restart_mid_dwell_keeps_first_sighting_evidence(shared_dir, tmp_path) -> None:
    props = load_props(shared_dir)
    clip = make_clip(tmp_path / "clip.avi", props, 4, lambda t: State(bike=True))
    cfg = camera_config(
        shared_dir,
        source=str(clip),
        zone={"grace_s": 3.0},
        sampling={"idle_interval_s": 0.25, "active_interval_s": 0.25},
        file_end="loop",
    )
    ctx = DriverContext(gateway_id="gw", state_dir=tmp_path / "state")
    sink = ListSink()

    async def main() -> None:
        try:
            first = CameraDriver(cfg, ctx)
            evidence = tmp_path / "state" / "camera-cam1.evidence"

            def first_sighting_kept() -> bool:
                # Both views on disk, not just the candidate open: stopping between the two
                # (the snapshot is still encoding) lost the first sighting by design.
                return bool(first.engine.candidates) and len(list(evidence.glob("*.jpg"))) >= 2

            await _run_until([first.run(sink)], first_sighting_kept, 20)
            assert sink.of_type("parking.") == []
            second = CameraDriver(cfg, ctx)  # restarted before the grace ran out
            await _run_until(
                [second.run(sink)], lambda: bool(sink.of_type("parking.violation.started")), 20
            )
        finally:
            ctx.shared.close_all()

    asyncio.run(main())
    (started,) = sink.of_type("parking.violation.started")
    roles = [e["role"] for e in started.data["evidence"]]
    assert roles == ["first_sighting", "first_sighting", "confirmation", "confirmation"]
    assert list((tmp_path / "state" / "camera-cam1.evidence").iterdir()) == []


def test_a_looping_clip_removed_is_noticed_at_its_end_and_back_when_returned(
    shared_dir, tmp_path
) -> None:
    # A looping file is reopened at its end: rewinding the open handle would keep
    # playing a file that was removed, so the camera would never be seen to vanish.
    clip = make_clip(tmp_path / "clip.avi", load_props(shared_dir), 2, lambda t: State())
    grabber = FrameGrabber(str(clip), name="cam1", reconnect_max_s=1.0, file_end="loop")
    grabber.start()
    try:
        assert wait_for(lambda: grabber.latest() is not None, 10)
        clip.rename(tmp_path / "away.avi")
        assert wait_for(lambda: grabber.last_error.startswith("cannot open"), 10)
        assert not grabber.ended and grabber.alive
        (tmp_path / "away.avi").rename(clip)
        seen = grabber.latest()
        assert seen is not None
        assert wait_for(lambda: grabber.latest().seq > seen.seq, 10)  # type: ignore[union-attr]
    finally:
        grabber.stop()
