"""The ``camera`` command group: installer tools for cameras, their zones and the detector.

``camera detect`` (agent/commands/camera_detect.py) runs the detector on still images,
``camera replay`` (agent/commands/camera_replay.py) explains a recorded clip, and
``edge-agent camera snapshot --config C --camera NAME --out FILE.jpg`` grabs the current
frame of a configured camera, draws its zones (outline, id and kind) and saves it, so an
installer can check that each zone covers the floor where bikes must not stand: a bike
counts as in a zone when the middle of the bottom edge of its box is inside the outline.
OpenCV is imported inside the handler only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from agent.commands import camera_detect, camera_replay, vision_eval
from agent.commands.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, add_config, load_or_report


def register(sub: Any) -> None:
    # "vision" was the detector tools' group before the two were merged; kept as an alias.
    group = sub.add_parser(
        "camera",
        aliases=["vision"],
        help="camera installer tools (snapshot with zones, detect, replay)",
    )
    csub = group.add_subparsers(dest="camera_command", metavar="ACTION", required=True)
    camera_detect.register(csub)
    camera_replay.register(csub)
    vision_eval.register(csub)
    snap = csub.add_parser(
        "snapshot",
        help="save the current frame with the zones drawn",
        description="Grab one frame from a configured camera and draw its zones on it.",
    )
    add_config(snap)
    snap.add_argument("--camera", required=True, help="name of the camera driver entry")
    snap.add_argument("--out", required=True, help="JPEG file to write")
    snap.set_defaults(handler=_snapshot)


def find_camera(config_path: str, name: str | None) -> Any:
    """The ``camera`` entry called ``name`` (or the only one); prints why not and returns None."""
    loaded = load_or_report(config_path, check_files=False)
    if loaded is None:
        return None
    from vision.config import CameraConfig

    drivers: list[Any] = list(loaded.config.drivers)
    cameras: list[CameraConfig] = [d for d in drivers if isinstance(d, CameraConfig)]
    names = ", ".join(c.name for c in cameras) or "none"
    if name is None:
        if len(cameras) == 1:
            return cameras[0]
        print(f"error: choose a camera with --camera (configured: {names})", file=sys.stderr)
        return None
    for cam in cameras:
        if cam.name == name:
            return cam
    print(
        f"error: no camera named {name!r} in {config_path} (configured: {names})", file=sys.stderr
    )
    return None


def _snapshot(args: argparse.Namespace) -> int:
    cam = find_camera(args.config, args.camera)
    if cam is None:
        return EXIT_USAGE
    from vision.capture import grab_one, redact
    from vision.evidence import draw_zones, save_jpeg

    try:
        frame = grab_one(cam.source, cam.open_timeout_s, cam.read_timeout_s)
    except OSError as exc:
        print(f"error: camera {cam.name}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    labelled = [(f"{z.id} ({z.kind})", z.polygon) for z in cam.zones]
    image = draw_zones(frame, labelled)
    out = Path(args.out)
    if not save_jpeg(str(out), image):
        print(f"error: cannot write {out} (use a .jpg name in an existing folder)", file=sys.stderr)
        return EXIT_FAILURE
    h, w = image.shape[:2]
    print(f"{out}: {w}x{h} frame from {redact(cam.source)} with {len(cam.zones)} zone(s)")
    return EXIT_OK
