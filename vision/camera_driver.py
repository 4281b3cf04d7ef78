"""The ``camera`` driver: capture -> shared detector -> dwell engine -> events with evidence.

Owners of blocking work: the :class:`~vision.capture.FrameGrabber` thread reads the
stream (and is the only reconnect loop), the shared
:class:`~vision.inference.InferenceWorker` thread runs the model, and this driver's own
one-thread ``evidence`` executor encodes JPEGs. The event loop only decides.

Sampling follows :class:`~vision.sampling.SamplingPolicy`: idle cameras sample slowly,
cameras with an open candidate faster, and all of them stretch their interval when the
shared worker is busy instead of queueing frames. Every sample covers the whole frame, so
the first one after start is the startup scan of every zone (bikes parked before boot are
found); with ``sampling.zone_crops`` each zone is also re-scanned at higher resolution
every ``sampling.rescan_every_s``. Before a violation is announced its candidate gets
one second look on its crop (``model.verify``, :mod:`vision.verify`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from agent.driver import DriverContext, DriverError, EventSink
from agent.events import Event
from agent.status import device_board
from vision.capture import Frame, FrameGrabber, redact, source_kind
from vision.config import CameraConfig
from vision.detector import ModelVerificationError
from vision.dwell import Candidate, Decision, DecisionKind, DwellEngine, EngineSettings, Sample
from vision.dwell_store import DwellStore
from vision.evidence import Snapshot, SnapshotLimits, make_snapshot
from vision.evidence_store import FirstSightingStore
from vision.geometry import inference_rect, polygon_pixels, polygon_rect
from vision.inference import InferenceWorker
from vision.observe import merge_detections, observations, pixel_box, settle, to_check
from vision.sampling import SamplingPolicy
from vision.types import PERSON, Detection
from vision.verify import Verdict
from vision.violations import (
    camera_offline_event,
    camera_online_event,
    is_event_decision,
    violation_event,
)

log = logging.getLogger(__name__)

_SAVE_EVERY_S = 10.0  # persist accumulated dwell this often while candidates are open


def inference_key(config: CameraConfig) -> str:
    """SharedResources key of the worker for this camera's model (one per model file)."""
    return f"vision.inference:{config.model.path}"


@dataclass
class _Health:
    """Offline/online transitions from frame arrival times (log once per transition)."""

    offline_after_s: float
    since: float  # when we started waiting for frames
    offline: bool = False
    offline_since: float = 0.0

    def check(self, now: float, last_frame_t: float | None) -> str | None:
        silent = now - (last_frame_t if last_frame_t is not None else self.since)
        if not self.offline and silent >= self.offline_after_s:
            self.offline, self.offline_since = True, now
            return "offline"
        # Back only on a real frame (after a restart we may start offline, with none yet).
        if self.offline and last_frame_t is not None and silent < self.offline_after_s:
            self.offline = False
            return "online"
        return None


class CameraDriver:
    """One camera: watches its zones and reports parking violations and camera health."""

    def __init__(self, config: CameraConfig, context: DriverContext) -> None:
        self.name = config.name
        self.config = config
        self._context = context
        self._store = DwellStore(context.state_dir, config.name)
        s = config.sampling
        self._policy = SamplingPolicy(
            idle_interval_s=s.idle_interval_s,
            active_interval_s=s.active_interval_s,
            max_interval_s=s.max_interval_s,
        )
        # Tracks must outlive two samples at the slowest (loaded) rate.
        settings = EngineSettings(track_max_age_s=max(6.0, 2.5 * s.max_interval_s))
        self.engine = DwellEngine(config.name, config.zones, settings)
        self._first_sightings = FirstSightingStore(context.state_dir, config.name)
        self._last_save = 0.0
        self._camera_offline = False  # an offline alarm was sent and no recovery yet
        self._inference_errors = 0
        self._verified: set[str] = set()  # candidates whose violation had its second look
        # Read by the local console (vision/live.py) on request; never by the loop itself.
        self.grabber: FrameGrabber | None = None
        self.last_detections: list[Detection] = []
        self.last_sample_seq = -1
        self.last_sample: Frame | None = None
        self._board = device_board(context.shared)  # the live status (agent/status.py)
        self._board.report(config.name, config.name, "unknown", reason="no frame yet")
        self._board_state = "unknown"

    # -- lifecycle ----------------------------------------------------------------------

    async def run(self, sink: EventSink) -> None:
        cfg = self.config
        try:
            # Off the loop: the first camera hashes and loads the model.
            worker = await asyncio.to_thread(
                self._context.shared.get_or_create,
                inference_key(cfg),
                lambda: InferenceWorker(cfg.model),
            )
        except ModelVerificationError as exc:
            raise DriverError(str(exc)) from exc
        grabber = FrameGrabber(
            cfg.source,
            name=cfg.name,
            open_timeout_s=cfg.open_timeout_s,
            read_timeout_s=cfg.read_timeout_s,
            reconnect_max_s=cfg.reconnect_max_s,
            file_end=cfg.file_end,
        )
        encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"evidence[{cfg.name}]")
        restored = await asyncio.to_thread(self._restore_state)
        log.info(
            "camera %s: source %s (%s), %d zones, %d restored candidates",
            cfg.name,
            redact(cfg.source),
            source_kind(cfg.source),
            len(cfg.zones),
            len(restored),
        )
        grabber.start()
        self.grabber = grabber
        try:
            await self._loop(sink, worker, grabber, encoder)
        finally:
            encoder.shutdown(wait=False, cancel_futures=True)
            # Joining the capture thread and the final fsync happen off the loop, so a
            # camera stuck in a 5 s RTSP open does not freeze the other drivers.
            await asyncio.to_thread(self._stop, grabber)

    def _restore_state(self) -> list[Candidate]:
        restored, self._camera_offline = self._store.load_state(now=time.monotonic())
        self.engine.restore(restored)
        self._first_sightings.keep_only(_awaiting_announcement(restored))
        return restored

    def _stop(self, grabber: FrameGrabber) -> None:
        grabber.stop(timeout=2.0)
        # Whatever is saved now is safe to save: a violation's id is on disk before its
        # started event, and an ended violation stays until its cleared event is stored.
        persistent = self.engine.persistent()
        self._first_sightings.keep_only(_awaiting_announcement(persistent))
        if persistent or self._camera_offline or self._store.path.exists():
            self._save()

    async def _loop(
        self,
        sink: EventSink,
        worker: InferenceWorker,
        grabber: FrameGrabber,
        encoder: ThreadPoolExecutor,
    ) -> None:
        cfg = self.config
        start = time.monotonic()
        health = _Health(
            cfg.offline_after_s, since=start, offline=self._camera_offline, offline_since=start
        )
        last_seq = -1
        next_rescan = 0.0  # the first sample is the startup scan
        while True:
            now = time.monotonic()
            frame = grabber.latest()
            change = health.check(now, frame.t if frame else None)
            if change == "offline":
                detail = grabber.last_error or ("video ended" if grabber.ended else "no frames")
                log.warning("camera %s offline: %s", cfg.name, detail)
                self._board.report(cfg.name, cfg.name, "offline", reason=detail)
                self._board_state = "offline"
                silent = now - (frame.t if frame else health.since)
                await sink.emit(camera_offline_event(cfg.name, silent, detail, _wall(now, now)))
                self._camera_offline = True
                await asyncio.to_thread(self._save)
            elif change == "online":
                log.info("camera %s back online", cfg.name)
                self._board.report(cfg.name, cfg.name, "online")
                self.engine.rebase(frame.t if frame else now)
                await sink.emit(
                    camera_online_event(cfg.name, now - health.offline_since, _wall(now, now))
                )
                self._camera_offline = False
                await asyncio.to_thread(self._save)
            if frame is not None and frame.seq != last_seq and not health.offline:
                last_seq = frame.seq
                self._note_frame(frame)
                crops = cfg.sampling.zone_crops and now >= next_rescan
                if crops:
                    next_rescan = now + cfg.sampling.rescan_every_s
                await self._sample(sink, worker, encoder, frame, crops)
            if not grabber.alive and not grabber.ended:
                raise DriverError(f"capture thread of camera {cfg.name} stopped unexpectedly")
            interval = self._policy.next_interval(
                self.engine.has_open_candidates, worker.busy_fraction(), worker.queue_depth
            )
            await asyncio.sleep(interval)

    def _note_frame(self, frame: Frame) -> None:
        h, w = frame.image.shape[:2]
        if self._board_state != "online":  # first frame since start (no offline before)
            self._board.report(self.name, self.name, "online")
        self._board_state = "online"
        self._board.seen(self.name, self.name, resolution=f"{w}x{h}")

    # -- one sample -----------------------------------------------------------------------

    def _region(self, width: int, height: int) -> tuple[int, int, int, int] | None:
        polygons = [z.polygon for z in self.config.zones]
        return inference_rect(self.config.inference_region, polygons, width, height)

    async def _sample(
        self,
        sink: EventSink,
        worker: InferenceWorker,
        encoder: ThreadPoolExecutor,
        frame: Frame,
        crops: bool,
    ) -> None:
        image = frame.image
        try:
            h, w = image.shape[:2]
            found = [await worker.detect(image, roi=self._region(w, h))]
            if crops:
                for zone in self.config.zones:
                    roi = polygon_rect(zone.polygon, w, h)
                    found.append(await worker.detect(image, roi=roi))
        except ValueError as exc:  # an unusable frame: skip it, the next one may be fine
            log.debug("camera %s: frame skipped: %s", self.name, exc)
            return
        except Exception as exc:
            if worker.closed:  # the shared worker was closed under us: nothing to retry
                raise DriverError(f"inference unavailable: {exc}") from exc
            # onnxruntime and OpenCV errors (allocation, a frame it cannot take) derive
            # from Exception directly: skip the sample, keep the camera and its timers.
            self._inference_errors += 1
            if self._inference_errors == 1 or self._inference_errors % 100 == 0:
                log.warning(
                    "camera %s: inference failed (%d so far), sample skipped: %s",
                    self.name, self._inference_errors, exc,
                )  # fmt: skip
            return
        detections = merge_detections(found)
        self.last_detections, self.last_sample_seq = detections, frame.seq
        self.last_sample = frame  # the frame those detections are of (vision/snapshot.py)
        now = time.monotonic()
        sample = Sample(frame.t, _wall(frame.t, now), observations(image, detections))
        decisions = await self._second_look(worker, frame, self.engine.step(sample))
        for decision in decisions:
            await self._act(decision, sink, encoder, frame, detections)
        if self.engine.dirty or (self.engine.candidates and now - self._last_save > _SAVE_EVERY_S):
            await asyncio.to_thread(self._save)

    async def _second_look(
        self, worker: InferenceWorker, frame: Frame, decisions: list[Decision]
    ) -> list[Decision]:
        """Re-check each new violation on its crop (``model.verify``) before it is announced:
        one or two inferences per candidate, once, never per frame."""
        pending = to_check(self.engine, decisions, self._verified)
        if not pending or worker.config.verify == "off":
            self._verified.update(pending)
            return decisions
        verdicts: dict[str, Verdict | None] = {}
        for cid, anchor in pending.items():
            try:
                verdict = await worker.verify(frame.image, pixel_box(anchor, frame.image))
            except Exception as exc:  # the next sighting asks again
                log.warning("camera %s: second look at %s failed: %s", self.name, cid, exc)
                verdicts[cid] = None
                continue
            verdicts[cid] = verdict
            log.info("camera %s: candidate %s %s", self.name, cid, verdict.reason())
        return settle(self.engine, decisions, verdicts, self._verified)

    async def _act(
        self,
        decision: Decision,
        sink: EventSink,
        encoder: ThreadPoolExecutor,
        frame: Frame,
        detections: list[Detection],
    ) -> None:
        cid = decision.candidate
        log.debug("camera %s %s %s: %s", self.name, decision.kind, cid, decision.reason)
        loop = asyncio.get_running_loop()
        store = self._first_sightings
        if decision.kind is DecisionKind.OPENED and cid is not None:
            shot = await self._snapshot(encoder, frame, decision, detections)
            if shot is not None:
                await loop.run_in_executor(encoder, store.put, cid, shot.frame_jpeg, shot.crop_jpeg)
            return
        if decision.kind in (DecisionKind.DROPPED, DecisionKind.CLEARED) and cid is not None:
            await loop.run_in_executor(encoder, store.discard, cid)
        if not is_event_decision(decision) or decision.zone is None:
            return
        zone = self.config.zone(decision.zone)
        evidence: list[tuple[str, str, bytes]] = []
        if decision.kind is DecisionKind.VIOLATION_STARTED and cid is not None:
            first = await loop.run_in_executor(encoder, store.get, cid)
            if first is not None:
                evidence += [
                    ("first_sighting", "frame", first[0]),
                    ("first_sighting", "crop", first[1]),
                ]
            confirm = await self._snapshot(encoder, frame, decision, detections)
            if confirm is not None:
                evidence += [
                    ("confirmation", "frame", confirm.frame_jpeg),
                    ("confirmation", "crop", confirm.crop_jpeg),
                ]
        event = violation_event(self.name, zone, decision, evidence)
        if decision.kind is DecisionKind.VIOLATION_STARTED and self.engine.dirty:
            # The violation id (= the event id) is on disk before the event: a crash right
            # after the commit re-sends the same id, never a second violation.
            await asyncio.to_thread(self._save)
        await self._emit(sink, event)
        if decision.kind is DecisionKind.VIOLATION_STARTED and cid is not None:
            self.engine.mark_announced(cid)
            log.info("camera %s: violation in zone %s: %s", self.name, zone.id, decision.reason)
            await asyncio.to_thread(self._save)
            await loop.run_in_executor(encoder, store.discard, cid)
        elif decision.kind is DecisionKind.CLEARED and cid is not None:
            self.engine.mark_cleared(cid)
            log.info(
                "camera %s: violation in zone %s cleared: %s", self.name, zone.id, decision.reason
            )

    @property
    def offline(self) -> bool:
        """Whether the camera is in an offline episode (an alarm sent, no recovery yet)."""
        return self._camera_offline

    async def _emit(self, sink: EventSink, event: Event) -> None:
        await sink.emit(event)

    async def _snapshot(
        self,
        encoder: ThreadPoolExecutor,
        frame: Frame,
        decision: Decision,
        detections: list[Detection],
    ) -> Snapshot | None:
        ev = self.config.evidence
        if not ev.enabled or decision.zone is None:
            return None
        image = frame.image
        h, w = image.shape[:2]
        if decision.observation is not None:
            box_n = decision.observation.box
        else:
            x1, y1, x2, y2 = (float(v) for v in decision.facts["box"])
            box_n = (x1, y1, x2, y2)
        bike = pixel_box(box_n, image)
        people = [d.box for d in detections if d.label == PERSON]
        zone_px = polygon_pixels(self.config.zone(decision.zone).polygon, w, h)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                encoder,
                lambda: make_snapshot(
                    image,
                    bike,
                    people,
                    zone_px,
                    SnapshotLimits(ev.max_bytes, ev.quality, ev.max_width, ev.crop_margin),
                ),
            )
        except ValueError as exc:
            log.warning("camera %s: snapshot failed: %s", self.name, exc)
            return None

    def _save(self) -> None:
        self._store.save(
            self.engine.persistent(), datetime.now(UTC), camera_offline=self._camera_offline
        )
        self.engine.dirty = False
        self._last_save = time.monotonic()


def _awaiting_announcement(candidates: Iterable[Candidate]) -> list[str]:
    """Candidates whose first-sighting snapshots are still needed (violation not sent)."""
    return [c.id for c in candidates if c.violation is None or not c.violation.announced]


def _wall(t: float, now: float) -> datetime:
    """Wall-clock UTC of monotonic instant ``t`` (reporting only; durations use ``t``)."""
    return datetime.now(UTC) - timedelta(seconds=max(0.0, now - t))
