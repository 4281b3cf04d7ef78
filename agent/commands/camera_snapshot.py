"""``edge-agent camera snapshot``: one frame with the zones, a coordinate grid and detections.

The installer's tool before any zone exists (issue 15 item 4)::

    edge-agent camera snapshot --source rtsp://... --out first.jpg --grid
    edge-agent camera snapshot --source frame.jpg --out try.jpg --grid \\
        --zone "bay=0.2,0.7 0.85,0.7 0.85,0.99 0.2,0.99" --detect --model yolox_nano.onnx
    edge-agent camera snapshot --config agent.yaml --camera lobby --out check.jpg --detect

``--source`` needs no config (a stream URL, a device, a video or an image file); with
``--config`` the camera's source, zones and model are used. ``--grid [STEP]`` draws a grid
labelled in frame fractions (what ``zones[].polygon`` takes); ``--zone ID=x,y x,y ...``
(repeatable) previews a zone that is not configured yet; ``--detect`` runs the detector and
draws each box with its bottom-centre anchor point and coordinates, the point that decides
zone membership, and prints which zone each anchor is in. People are blurred.
OpenCV and onnxruntime are imported inside the handler only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from agent.commands.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, add_config

Polygon = list[tuple[float, float]]


def register(csub: Any) -> None:
    snap = csub.add_parser(
        "snapshot",
        help="save the current frame with zones, a coordinate grid and detections",
        description="Grab one frame (from --source, or a configured camera) and draw on it.",
    )
    add_config(snap, required=False)
    snap.add_argument("--camera", help="name of the camera driver entry (with --config)")
    snap.add_argument("--source", help="stream URL, device or video/image file; no config needed")
    snap.add_argument("--out", required=True, help="JPEG file to write")
    snap.add_argument(
        "--grid", nargs="?", type=float, const=0.1, default=None, metavar="STEP",
        help="draw a coordinate grid every STEP of the frame (default 0.1)",
    )  # fmt: skip
    snap.add_argument(
        "--zone", action="append", default=[], type=parse_zone, metavar="ID=X,Y X,Y X,Y",
        help="draw a zone that is not configured yet (fractions of the frame), repeatable",
    )  # fmt: skip
    snap.add_argument("--detect", action="store_true", help="run the detector and draw anchors")
    snap.add_argument("--model", help="ONNX model for --detect (else the camera's)")
    snap.add_argument("--sha256", help="expected SHA-256 of --model")
    snap.set_defaults(handler=snapshot, score=None, threads=None)


def parse_zone(text: str) -> tuple[str, Polygon]:
    from vision.geometry import check_polygon

    name, sep, rest = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected ID=X,Y X,Y X,Y, got {text!r}")
    try:
        points = [(float(x), float(y)) for x, y in (p.split(",") for p in rest.split())]
        check_polygon(points)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"zone {name}: {exc}") from None
    return name, points


def _source(args: argparse.Namespace) -> tuple[Any, str, list[tuple[str, Polygon]]] | None:
    """(camera config or None, source, labelled zones), or None after printing why not."""
    from agent.commands.camera import find_camera

    if args.source and args.config:
        print("error: give --source or --config, not both", file=sys.stderr)
        return None
    if args.source:
        return None, args.source, []
    if not args.config:
        print("error: give --source URL|FILE (no config needed) or --config", file=sys.stderr)
        return None
    cam = find_camera(args.config, args.camera)
    if cam is None:
        return None
    zones = [(f"{z.id} ({z.kind})", [(float(x), float(y)) for x, y in z.polygon])
             for z in cam.zones]  # fmt: skip
    return cam, cam.source, zones


def _detector(args: argparse.Namespace, cam: Any) -> Any:
    from agent.commands.camera_detect import load_detector

    if args.model:
        return load_detector(args)
    if cam is None:
        print("error: --detect without a config needs --model", file=sys.stderr)
        return None
    from vision.detector import Detector, ModelVerificationError

    try:
        return Detector(cam.model)
    except ModelVerificationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def _report(detections: list[Any], zones: list[tuple[str, Polygon]], w: int, h: int) -> None:
    from vision.geometry import bottom_centre, point_in_polygon

    for d in detections:
        anchor = bottom_centre((d.box[0] / w, d.box[1] / h, d.box[2] / w, d.box[3] / h))
        inside = [name for name, poly in zones if point_in_polygon(anchor, poly)]
        where = ", ".join(inside) if inside else "no zone"
        print(f"  {d.label:<12} {d.score:.2f}  anchor ({anchor[0]:.3f}, {anchor[1]:.3f})  "
              f"in {where}")  # fmt: skip


def snapshot(args: argparse.Namespace) -> int:
    found = _source(args)
    if found is None:
        return EXIT_USAGE
    cam, source, zones = found
    zones += [(name, poly) for name, poly in args.zone]
    from vision.annotate import draw_detections, draw_grid
    from vision.capture import grab_one, redact
    from vision.evidence import draw_zones, save_jpeg

    detector = _detector(args, cam) if args.detect else None
    if args.detect and detector is None:
        return EXIT_FAILURE
    try:
        frame = grab_one(source, *((cam.open_timeout_s, cam.read_timeout_s) if cam else ()))
    except OSError as exc:
        print(f"error: {redact(source)}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    h, w = frame.shape[:2]
    detections = list(detector.detect(frame)) if detector is not None else []
    image = draw_detections(frame, detections) if detector is not None else frame
    image = draw_zones(image, zones)
    if args.grid is not None:
        try:
            image = draw_grid(image, args.grid)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    out = Path(args.out)
    if not save_jpeg(str(out), image):
        print(f"error: cannot write {out} (use a .jpg name in an existing folder)", file=sys.stderr)
        return EXIT_FAILURE
    print(f"{out}: {w}x{h} frame from {redact(source)} with {len(zones)} zone(s)"
          + (f", {len(detections)} detection(s)" if detector is not None else ""))  # fmt: skip
    _report(detections, zones, w, h)
    return EXIT_OK
