"""``edge-agent vision eval``: how well the detector works on labelled photos.

``vision eval --model M [--sha256 HEX] --labels L.json IMAGE...|DIR [--json] [--plot PR.png]
[--crops DIR] [--verify MODE]`` prints precision, recall and F1 at IoU 0.5 at the configured
threshold, also after the second look a violation gets (``with_verify``, unless ``--verify
off``; every rejected box with its reason), a threshold sweep, and each image's misses and
false alarms; ``--plot`` writes the
precision-recall curve as a PNG and ``--crops`` saves a crop of every miss and false alarm.
Labels use the shared test-data format (``labels.json``); the logic is in
``vision.evaluate``. Registered into the ``vision`` group by ``agent.commands.vision``.
Exit code 0 on success, 1 if the model or an image cannot be used.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_FAILURE = 1


def register(vsub: Any) -> None:
    """Add ``eval`` to the ``vision`` group's subparsers object."""
    ev = vsub.add_parser(
        "eval",
        help="precision/recall of the detector on labelled photos",
        description="Score the detector against hand-labelled photos (IoU 0.5, two-wheelers).",
    )
    ev.add_argument("images", nargs="+", metavar="IMAGE|DIR", help="image files or directories")
    ev.add_argument("--model", required=True, help="ONNX model file")
    ev.add_argument("--sha256", help="expected SHA-256 of the model (default: hash the file)")
    ev.add_argument("--labels", required=True, help="labels.json (shared test-data format)")
    ev.add_argument("--score", type=float, default=None, help="score threshold (default 0.3)")
    ev.add_argument(
        "--verify",
        choices=("off", "crop", "crop_flip"),
        default=None,
        help="second look to report figures with (default: the model default, crop_flip)",
    )
    ev.add_argument("--json", action="store_true", help="print the report as one JSON object")
    ev.add_argument("--plot", help="write the precision-recall curve to this PNG")
    ev.add_argument("--crops", help="save a crop of every miss and false alarm in this directory")
    ev.set_defaults(handler=_eval)


def _eval(args: argparse.Namespace) -> int:
    from vision.detector import Detector, ModelVerificationError, file_sha256
    from vision.evaluate import SWEEP, LabelledSet, image_paths, run_eval
    from vision.model_config import ModelConfig

    model = Path(args.model)
    try:
        sha = args.sha256.lower() if args.sha256 else file_sha256(model)
        base: dict[str, Any] = {"path": model, "sha256": sha}
        if args.score is not None:
            base["score_threshold"] = args.score
        if args.verify is not None:
            base["verify"] = args.verify
        detector = Detector(ModelConfig(**base))
        low = Detector(ModelConfig(**(base | {"score_threshold": SWEEP[0]})))
        labelled = LabelledSet.load(Path(args.labels))
        result = run_eval(
            detector,
            low,
            image_paths(Path(p) for p in args.images),
            labelled,
            Path(args.crops) if args.crops else None,
            detector if detector.config.verify != "off" else None,
        )
        result["verify"] = detector.config.verify
        if args.plot:
            _plot(result, Path(args.plot))
    except (ModelVerificationError, OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        _print_human(result)
    return EXIT_OK


def _plot(result: dict[str, Any], path: Path) -> None:
    from vision.plot import draw_pr_curve

    points = [(p["threshold"], p["recall"], p["precision"]) for p in result["sweep"]]
    at = result["at_threshold"]
    draw_pr_curve(points, (result["threshold"], at["recall"], at["precision"]), path)


def _print_human(result: dict[str, Any]) -> None:
    at = result["at_threshold"]
    print(
        f"{result['images']} images, IoU {result['iou']}, threshold {result['threshold']:.2f}: "
        f"TP {at['tp']} FP {at['fp']} FN {at['fn']}  precision {at['precision']:.3f} "
        f"recall {at['recall']:.3f} F1 {at['f1']:.3f}"
    )
    if "with_verify" in result:
        v = result["with_verify"]
        print(
            f"with the second look ({result['verify']}): TP {v['tp']} FP {v['fp']} FN {v['fn']}"
            f"  precision {v['precision']:.3f} recall {v['recall']:.3f} F1 {v['f1']:.3f}"
        )
    print("\nthreshold  precision  recall  F1     TP  FP  FN")
    for p in result["sweep"]:
        print(
            f"{p['threshold']:9.2f}  {p['precision']:9.3f}  {p['recall']:6.3f}  {p['f1']:5.3f}"
            f"  {p['tp']:3d} {p['fp']:3d} {p['fn']:3d}"
        )
    for img in result["per_image"]:
        for box in img["misses"]:
            print(f"{img['file']}: MISS {box}")
        for rj in img.get("rejected_by_verify", []):
            print(f"{img['file']}: REJECTED {rj['score']:.2f} {rj['box']}: {rj['why']}")
        for fa in img["false_alarms"]:
            print(
                f"{img['file']}: FALSE ALARM {fa['score']:.2f} {fa['box']} ({fa['source_class']})"
            )
    for name in result["unlabelled"]:
        print(f"{name}: not in the labels file, skipped")
