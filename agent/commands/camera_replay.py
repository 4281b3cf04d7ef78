"""``edge-agent camera replay CLIP --config C [--camera NAME]``: explain a recorded clip.

Runs the clip through the camera's full logic (sampling, detector, zones, dwell engine)
in simulated time - the clip's own timestamps, not the wall clock - and prints every
decision with its reason: why an alert was raised, or why it was not (too short, attended,
outside every zone, moving through, schedule off). Registered into the ``camera`` group by
agent/commands/camera.py (``vision replay`` is kept as an alias). Heavy imports stay in the handler.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from agent.commands.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, add_config


def register(csub: Any) -> None:
    """Add ``replay`` to the ``camera`` group's subparsers object."""
    replay = csub.add_parser(
        "replay",
        help="run a recorded clip through the parking logic and explain each decision",
        description="Replay a video file through a configured camera's sampling, detector, "
        "zones and dwell engine in clip time, printing every decision with its reason.",
    )
    replay.add_argument("clip", help="video file (e.g. an export from the camera or NVR)")
    add_config(replay)
    replay.add_argument("--camera", help="camera entry to use (default: the only one)")
    replay.add_argument(
        "--start",
        help="wall-clock time of the clip's first frame, ISO 8601 (for zone schedules); "
        "default now",
    )
    replay.add_argument("--json", action="store_true", help="one JSON object per decision")
    replay.set_defaults(handler=_replay)


def _start_time(text: str | None) -> datetime | None:
    """The clip's first-frame wall time (default now); ``None`` after reporting a bad one."""
    if not text:
        return datetime.now(UTC)
    try:
        start = datetime.fromisoformat(text)
    except ValueError:
        print(f"error: --start {text!r} is not an ISO 8601 time", file=sys.stderr)
        return None
    # A naive time is the host's local time.
    return start if start.tzinfo is not None else start.astimezone()


def _decision_json(d: Any) -> str:
    doc: dict[str, Any] = {
        "t": round(d.t, 2),
        "time": d.wall.isoformat(),
        "decision": d.kind.value,
        "zone": d.zone,
        "candidate": d.candidate,
        "reason": d.reason,
    }
    if d.facts:
        doc["facts"] = d.facts
    return json.dumps(doc)


def _print_header(cam: Any, clip: str) -> None:
    print(f"camera {cam.name}: {len(cam.zones)} zone(s)")
    for z in cam.zones:
        print(
            f"  zone {z.id} ({z.kind}): grace {z.grace_s:g} s, gap tolerance "
            f"{z.gap_tolerance_s:g} s" + (", scheduled" if z.schedules else "")
        )
    print(f"replaying {clip} in clip time")


def _print_summary(result: Any, cam: Any) -> None:
    from vision.dwell import DecisionKind
    from vision.replay import format_open

    started = len(result.of(DecisionKind.VIOLATION_STARTED))
    cleared = len(result.of(DecisionKind.CLEARED))
    print(
        f"done: {result.duration_s:.1f} s of clip, {result.frames} frames, "
        f"{result.samples} sampled; {started} violation(s) started, {cleared} cleared"
    )
    if result.open_at_end:
        print("still open at the end of the clip:")
        for cand in result.open_at_end:
            print(format_open(cand, cam.zone(cand.zone_id).grace_s))
    elif started == 0:
        print("no violation: see the reasons above (nothing in a zone long enough)")


def _replay(args: argparse.Namespace) -> int:
    from agent.commands.camera import find_camera

    cam = find_camera(args.config, args.camera)
    if cam is None:
        return EXIT_USAGE
    start = _start_time(args.start)
    if start is None:
        return EXIT_USAGE

    from vision.detector import Detector, ModelVerificationError
    from vision.dwell import Decision
    from vision.replay import format_decision, replay_clip

    try:
        detector = Detector(cam.model)
    except ModelVerificationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE

    def show(d: Decision) -> None:
        print(_decision_json(d) if args.json else format_decision(d), flush=True)

    if not args.json:
        _print_header(cam, args.clip)
    try:
        result = replay_clip(args.clip, cam, detector, start_wall=start, on_decision=show)
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if not args.json:
        _print_summary(result, cam)
    return EXIT_OK
