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


def _replay(args: argparse.Namespace) -> int:
    from agent.commands.camera import find_camera

    cam = find_camera(args.config, args.camera)
    if cam is None:
        return EXIT_USAGE
    start = datetime.now(UTC)
    if args.start:
        try:
            start = datetime.fromisoformat(args.start)
        except ValueError:
            print(f"error: --start {args.start!r} is not an ISO 8601 time", file=sys.stderr)
            return EXIT_USAGE
        if start.tzinfo is None:
            start = start.astimezone()  # a naive time is the host's local time

    from vision.detector import Detector, ModelVerificationError
    from vision.dwell import Decision, DecisionKind
    from vision.replay import format_decision, format_open, replay_clip

    try:
        detector = Detector(cam.model)
    except ModelVerificationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE

    def show(d: Decision) -> None:
        if args.json:
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
            print(json.dumps(doc), flush=True)
        else:
            print(format_decision(d), flush=True)

    if not args.json:
        print(f"camera {cam.name}: {len(cam.zones)} zone(s)")
        for z in cam.zones:
            print(
                f"  zone {z.id} ({z.kind}): grace {z.grace_s:g} s, gap tolerance "
                f"{z.gap_tolerance_s:g} s" + (", scheduled" if z.schedules else "")
            )
        print(f"replaying {args.clip} in clip time")
    try:
        result = replay_clip(args.clip, cam, detector, start_wall=start, on_decision=show)
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if args.json:
        return EXIT_OK
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
    return EXIT_OK
