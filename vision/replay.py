"""Replay a recorded clip through the full camera logic in simulated time.

Clip time (frame index / fps) drives sampling and the dwell engine, so an hour of
footage replays as fast as the detector runs and gives the same decisions the camera
would have made. Every decision is reported with its reason: field complaints ("why was
there no alert?") can be reproduced offline with the site's own config.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from vision.capture import clip_frames
from vision.config import CameraConfig
from vision.dwell import Candidate, Decision, DecisionKind, DwellEngine, EngineSettings, Sample
from vision.geometry import inference_rect, polygon_rect
from vision.observe import merge_detections, observations, pixel_box, settle, to_check
from vision.sampling import SamplingPolicy
from vision.types import Detection

Image = npt.NDArray[np.uint8]


class FrameDetector(Protocol):
    """What replay needs of a detector (:class:`vision.detector.Detector` fits)."""

    def detect(self, frame_bgr: Image) -> list[Detection]: ...

    def detect_in(self, frame_bgr: Image, roi: tuple[int, int, int, int]) -> list[Detection]: ...


@dataclass
class ReplayResult:
    decisions: list[Decision] = field(default_factory=list)
    samples: int = 0
    frames: int = 0
    duration_s: float = 0.0
    open_at_end: list[Candidate] = field(default_factory=list)

    def of(self, kind: DecisionKind) -> list[Decision]:
        return [d for d in self.decisions if d.kind is kind]


def engine_for(camera: CameraConfig) -> DwellEngine:
    """The engine exactly as the driver builds it."""
    settings = EngineSettings(track_max_age_s=max(6.0, 2.5 * camera.sampling.max_interval_s))
    return DwellEngine(camera.name, camera.zones, settings)


def policy_for(camera: CameraConfig) -> SamplingPolicy:
    s = camera.sampling
    return SamplingPolicy(
        idle_interval_s=s.idle_interval_s,
        active_interval_s=s.active_interval_s,
        max_interval_s=s.max_interval_s,
    )


def replay_clip(
    clip: str | Path,
    camera: CameraConfig,
    detector: FrameDetector,
    *,
    engine: DwellEngine | None = None,
    start_wall: datetime | None = None,
    time_offset: float = 0.0,
    on_decision: Callable[[Decision], None] | None = None,
) -> ReplayResult:
    """Run ``clip`` through sampling, detection and the dwell engine in clip time.

    Violations count as announced at once (as if the outbox accepted them). Pass an
    ``engine`` (and ``time_offset``) to continue a run, e.g. to model a restart.
    """
    engine = engine or engine_for(camera)
    policy = policy_for(camera)
    wall0 = start_wall or datetime.now(UTC)
    result = ReplayResult()
    next_t = 0.0
    next_rescan = 0.0
    verified: set[str] = set()
    for t, frame in clip_frames(clip):
        result.frames += 1
        result.duration_s = t
        if t + 1e-9 < next_t:
            continue
        h, w = frame.shape[:2]
        region = inference_rect(camera.inference_region, [z.polygon for z in camera.zones], w, h)
        found = [detector.detect(frame) if region is None else detector.detect_in(frame, region)]
        if camera.sampling.zone_crops and t >= next_rescan:
            next_rescan = t + camera.sampling.rescan_every_s
            for zone in camera.zones:
                found.append(detector.detect_in(frame, polygon_rect(zone.polygon, w, h)))
        obs = observations(frame, merge_detections(found))
        now = time_offset + t
        decisions = engine.step(Sample(now, wall0 + timedelta(seconds=now), obs))
        for decision in _second_look(engine, frame, decisions, detector, verified):
            result.decisions.append(decision)
            if on_decision is not None:
                on_decision(decision)
            if decision.kind is DecisionKind.VIOLATION_STARTED and decision.candidate:
                engine.mark_announced(decision.candidate)
        result.samples += 1
        # Simulated time has no CPU contention: the policy's unloaded interval applies.
        next_t = t + policy.next_interval(engine.has_open_candidates, 0.0, 0)
    result.open_at_end = list(engine.candidates.values())
    return result


def _second_look(
    engine: DwellEngine,
    frame: Image,
    decisions: list[Decision],
    detector: FrameDetector,
    verified: set[str],
) -> list[Decision]:
    """The camera's second look before a violation (``vision/observe.py``), if it has one."""
    pending = to_check(engine, decisions, verified)
    check = getattr(detector, "verify", None)
    if not pending or check is None:
        verified.update(pending)
        return decisions
    verdicts = {cid: check(frame, pixel_box(box, frame)) for cid, box in pending.items()}
    return settle(engine, decisions, verdicts, verified)


def format_decision(d: Decision) -> str:
    where = d.candidate or "-"
    return f"{d.t:8.1f}s  {d.kind.value:<24} {where:<22} {d.reason}"


def format_open(cand: Candidate, grace_s: float) -> str:
    state = "VIOLATION" if cand.violation else "pending"
    extra = "" if cand.violation else f" (needs {grace_s:.1f} s)"
    if cand.attended:
        extra += ", attended now"
    return f"  {cand.id:<22} {state:<9} dwell {cand.dwell_s:.1f} s{extra}"
