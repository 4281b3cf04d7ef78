"""The ``camera`` command group: installer tools for cameras, their zones and the detector.

``camera detect`` (agent/commands/camera_detect.py) runs the detector on still images,
``camera replay`` (agent/commands/camera_replay.py) explains a recorded clip, and
``camera snapshot`` (agent/commands/camera_snapshot.py) grabs one frame, from a bare
``--source`` or a configured camera, and draws the zones, a coordinate grid and the
detections with their anchor points, so an installer can check that each zone covers the
floor where bikes must not stand: a bike counts as in a zone when the middle of the bottom
edge of its box is inside the outline. OpenCV is imported inside the handlers only.
"""

from __future__ import annotations

import sys
from typing import Any

from agent.commands import camera_detect, camera_replay, camera_snapshot, vision_eval
from agent.commands.common import load_or_report


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
    camera_snapshot.register(csub)


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
