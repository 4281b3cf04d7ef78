"""``edge-agent camera detect``: the camera detector on still images, for installers.

``edge-agent camera detect --model PATH [--sha256 HEX] IMAGE... [--json]`` runs the detector
on still images. With ``--json`` it prints ONE JSON array on stdout, one object per image in
argument order::

    [{"file": "a.jpg", "width": 640, "height": 480,
      "detections": [{"label": "two_wheeler", "score": 0.8123, "box": [x1, y1, x2, y2],
                      "source_class": "bicycle"}]},
     {"file": "missing.jpg", "error": "missing.jpg: no such file"}]

Boxes are in original-image pixels; labels are the configured output labels
(``two_wheeler`` or ``person`` by default). An image that cannot be read gets an
``"error"`` object (and no ``"detections"`` key), a message on stderr, and makes the exit
code 1; the other images are still processed. Without ``--json`` one line per detection.

Model verification: the agent itself always requires ``model.sha256``. Here ``--sha256``
is optional because installers use this command to learn the hash of a model file they
were given: when it is omitted the file is hashed, a warning naming the hash is printed on
stderr ("UNVERIFIED"), and detection runs. When it is given and does not match, nothing
runs and the exit code is 1.

``--annotate OUT.jpg`` saves each image with its detections drawn: box, label, score and
the bottom-centre anchor point with its frame coordinates (people blurred first,
vision/annotate.py). With several images the image's name is added: ``OUT-<stem>.jpg``.

Registered into the ``camera`` group by agent/commands/camera.py (``vision detect`` is
kept as an alias). Heavy imports (OpenCV, onnxruntime) happen inside the handler only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from agent.commands.common import EXIT_FAILURE, EXIT_OK


def register(csub: Any) -> None:
    """Add ``detect`` to the ``camera`` group's subparsers object."""
    detect = csub.add_parser(
        "detect",
        help="run the two-wheeler detector on image files",
        description="Run the ONNX detector on image files and print what it finds.",
    )
    detect.add_argument("images", nargs="+", metavar="IMAGE", help="image files (JPEG, PNG)")
    detect.add_argument("--model", required=True, help="ONNX model file")
    detect.add_argument(
        "--sha256",
        help="expected SHA-256 of the model; if omitted the file is hashed and reported as "
        "UNVERIFIED on stderr",
    )
    detect.add_argument(
        "--score", type=float, default=None, help="score threshold (default: model default 0.3)"
    )
    detect.add_argument("--threads", type=int, default=None, help="inference threads")
    detect.add_argument(
        "--roi",
        type=_parse_roi,
        default=None,
        metavar="X1,Y1,X2,Y2",
        help="detect only in this region (pixels), as a camera does around a zone",
    )
    detect.add_argument("--json", action="store_true", help="print one JSON array")
    detect.add_argument(
        "--annotate",
        metavar="OUT.jpg",
        help="save what it saw: boxes, anchor points (people blurred); with several images "
        "OUT-<image name>.jpg each",
    )
    detect.set_defaults(handler=_detect)


def _parse_roi(text: str) -> tuple[int, int, int, int]:
    parts = text.split(",")
    try:
        x1, y1, x2, y2 = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected X1,Y1,X2,Y2 integers, got {text!r}") from None
    return x1, y1, x2, y2


def load_detector(args: argparse.Namespace) -> Any:
    """The detector for ``--model`` (hashing it when ``--sha256`` is absent); None on error."""
    from vision.detector import Detector, ModelVerificationError, file_sha256
    from vision.model_config import ModelConfig

    model = Path(args.model)
    expected = args.sha256.lower() if args.sha256 else None
    if expected is None:
        if not model.is_file():
            print(f"error: model file not found: {model}", file=sys.stderr)
            return None
        expected = file_sha256(model)
        print(
            f"warning: model {model} is UNVERIFIED (no --sha256); its sha256 is {expected}. "
            "Check it against the published value before putting it in model.sha256.",
            file=sys.stderr,
        )
    overrides: dict[str, Any] = {}
    if args.score is not None:
        overrides["score_threshold"] = args.score
    if args.threads is not None:
        overrides["threads"] = args.threads
    try:
        return Detector(ModelConfig(path=model, sha256=expected, **overrides))
    except ModelVerificationError as exc:
        print(f"error: {exc}", file=sys.stderr)
    except ValueError as exc:  # pydantic ValidationError: a bad --sha256, --score, ...
        print(f"error: {exc}", file=sys.stderr)
    return None


def _detect(args: argparse.Namespace) -> int:
    from vision.preprocess import read_image

    detector = load_detector(args)
    if detector is None:
        return EXIT_FAILURE
    code = EXIT_OK
    results: list[dict[str, Any]] = []
    for name in args.images:
        try:
            image = read_image(name)
            found = (
                detector.detect(image) if args.roi is None else detector.detect_in(image, args.roi)
            )
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            results.append({"file": name, "error": str(exc)})
            code = EXIT_FAILURE
            continue
        item = {
            "file": name,
            "width": int(image.shape[1]),
            "height": int(image.shape[0]),
            "detections": [
                {
                    "label": d.label,
                    "score": round(d.score, 4),
                    "box": [round(v, 1) for v in d.box],
                    "source_class": d.source_class,
                }
                for d in found
            ],
        }
        if args.annotate and not _annotate(args.annotate, name, image, found, len(args.images)):
            code = EXIT_FAILURE
        results.append(item)
        if not args.json:
            _print_human(item, detector.last_timings.get("total_ms", 0.0))
    if args.json:
        print(json.dumps(results))
    return code


def annotated_path(out: str, image: str, count: int) -> Path:
    """Where ``--annotate OUT`` puts the picture of ``image`` (one of ``count``)."""
    target = Path(out)
    if count == 1:
        return target
    return target.with_name(f"{target.stem}-{Path(image).stem}{target.suffix or '.jpg'}")


def _annotate(out: str, name: str, image: Any, found: Any, count: int) -> bool:
    from vision.annotate import draw_detections
    from vision.evidence import save_jpeg

    path = annotated_path(out, name, count)
    if save_jpeg(str(path), draw_detections(image, found)):
        print(f"annotated: {path}", file=sys.stderr)
        return True
    print(f"error: cannot write {path} (use a .jpg name in an existing folder)", file=sys.stderr)
    return False


def _print_human(item: dict[str, Any], total_ms: float) -> None:
    detections = item["detections"]
    print(f"{item['file']}: {len(detections)} detection(s) in {total_ms:.1f} ms")
    for d in detections:
        box = ", ".join(f"{v:.0f}" for v in d["box"])
        print(f"  {d['label']:<12} {d['score']:.2f}  [{box}]  ({d['source_class']})")
