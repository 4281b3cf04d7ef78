"""The ONNX two-wheeler detector: the only module that imports onnxruntime.

A :class:`Detector` loads the configured model file (never downloads one), checks its
SHA-256 and its input/output shapes against :class:`~vision.model_config.ModelConfig`, and
turns BGR frames into :class:`~vision.types.Detection` lists in original-frame pixels.
It is not thread-safe by design: one :class:`~vision.inference.InferenceWorker` thread owns
it. The stages (``preprocess``, ``infer``, ``postprocess``) are public so a benchmark can
time them separately; ``last_timings`` holds the latest per-stage milliseconds.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from vision.model_config import ModelConfig
from vision.postprocess import (
    DecodeSpec,
    Grid,
    LabelGroup,
    check_output,
    make_grid,
    make_label_groups,
    postprocess_rows,
)
from vision.postprocess_small import SmallTables, postprocess_small, small_tables
from vision.preprocess import InputBuffer, Roi, check_frame, clamp_roi, single_threaded_opencv
from vision.types import Box, Detection
from vision.verify import Verdict, verify

_HASH_CHUNK = 1 << 20


class ModelVerificationError(Exception):
    """The model file is missing, has the wrong hash or does not fit the config."""


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_model_file(path: Path, expected_sha256: str) -> None:
    """Raise :class:`ModelVerificationError` unless ``path`` is a file with that hash."""
    if not path.is_file():
        raise ModelVerificationError(f"model file not found: {path}")
    actual = file_sha256(path)
    if actual != expected_sha256.lower():
        raise ModelVerificationError(
            f"model file {path} failed verification: expected sha256 {expected_sha256}, "
            f"actual {actual}. Install the file the config names, or update model.sha256 "
            "if the model was replaced on purpose."
        )


def _dims_match(got: list[object], want: list[int]) -> bool:
    """Shapes agree; a symbolic dimension (a name or None, e.g. a dynamic batch) matches."""
    return len(got) == len(want) and all(
        not isinstance(g, int) or g == w for g, w in zip(got, want, strict=True)
    )


class Detector:
    """One onnxruntime session plus YOLOX pre- and post-processing."""

    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        path = Path(config.path)
        verify_model_file(path, config.sha256)
        options = ort.SessionOptions()
        options.intra_op_num_threads = config.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # No busy-waiting between runs: cameras sample about once a second, and spinning
        # pool threads would burn a core that frame decoding and the other drivers need
        # (measured on a 2-vCPU VM: 25-50 % less CPU per frame at about the same latency).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own unexported exception types
            raise ModelVerificationError(f"cannot load model {path}: {exc}") from exc
        self.input_name, self.output_name = self._check_shapes(path)
        self.input_hw: tuple[int, int] = (config.input_size[0], config.input_size[1])
        self.grid: Grid = make_grid(self.input_hw)
        try:
            self.groups: tuple[LabelGroup, ...] = make_label_groups(
                config.class_map, config.source_names, config.num_classes
            )
        except ValueError as exc:
            raise ModelVerificationError(f"model {path}: {exc}") from exc
        self.spec = DecodeSpec(
            grid=self.grid,
            groups=self.groups,
            score_threshold=config.score_threshold,
            nms_iou=config.nms_iou,
            class_margin=config.class_margin,
        )
        self.last_timings: dict[str, float] = {}
        # The model input, reused every frame (one worker thread owns the detector, and the
        # tensor is consumed by session.run before the next frame is prepared).
        self._input = InputBuffer(self.input_hw)
        self._small: SmallTables = small_tables(self.spec, config.num_classes)
        self._output, self._binding = self._bind()
        single_threaded_opencv()

    def _bind(self) -> tuple[npt.NDArray[np.float32], ort.IOBinding]:
        """The output buffer and a binding of it and the input buffer, made once.

        ``run_with_iobinding`` then writes each frame's output into the same array, so
        onnxruntime allocates no 1.2 MB output per frame either.
        """
        output: npt.NDArray[np.float32] = np.empty(
            (1, self.grid.rows, self.config.num_classes + 5), dtype=np.float32
        )
        binding = self.session.io_binding()
        tensor = self._input.tensor
        binding.bind_input(
            self.input_name, "cpu", 0, np.float32, list(tensor.shape), tensor.ctypes.data
        )
        binding.bind_output(
            self.output_name, "cpu", 0, np.float32, list(output.shape), output.ctypes.data
        )
        return output, binding

    def _check_shapes(self, path: Path) -> tuple[str, str]:
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelVerificationError(
                f"model {path} has {len(inputs)} inputs and {len(outputs)} outputs; "
                "expected one of each (a YOLOX export)"
            )
        want_in = [1, 3, self.config.input_size[0], self.config.input_size[1]]
        got_in = list(inputs[0].shape)
        if not _dims_match(got_in, want_in):
            raise ModelVerificationError(
                f"model {path} takes input {got_in} but the config says input_size "
                f"{tuple(self.config.input_size)} (expected {want_in}); set model.input_size "
                "to the model's height and width"
            )
        width = self.config.num_classes + 5
        got_out = list(outputs[0].shape)
        rows = make_grid((self.config.input_size[0], self.config.input_size[1])).rows
        if not _dims_match(got_out, [1, rows, width]):
            raise ModelVerificationError(
                f"model {path} outputs {got_out} but the config expects [1, {rows}, {width}] "
                f"(num_classes {self.config.num_classes} + 5 box/objectness terms)"
            )
        return str(inputs[0].name), str(outputs[0].name)

    # -- stages -------------------------------------------------------------------------

    def preprocess(self, frame: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.float32], float]:
        """Validate and letterbox a BGR frame: ``(1, 3, H, W)`` float32 tensor and ratio."""
        return self._input.fill(check_frame(frame))

    def infer(self, tensor: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Run the session on a prepared tensor; returns the raw ``(1, N, 5 + C)`` output.

        For the detector's own input buffer (what :meth:`preprocess` returns) the output is
        the detector's output buffer, overwritten by the next call: copy it to keep it.
        """
        if tensor is self._input.tensor:
            self.session.run_with_iobinding(self._binding)
            return self._output
        outputs = self.session.run([self.output_name], {self.input_name: tensor})
        result: npt.NDArray[np.float32] = np.asarray(outputs[0], dtype=np.float32)
        return result

    def postprocess(
        self,
        raw: npt.NDArray[np.float32],
        ratio: float,
        image_wh: tuple[float, float] | None = None,
        offset: tuple[float, float] = (0.0, 0.0),
    ) -> list[Detection]:
        """Decode, merge classes, NMS and clip; boxes in the pixels of the image the model saw.

        Without ``image_wh`` boxes are clipped to the area the letterbox can represent
        (the model input divided by ``ratio``). ``offset`` shifts boxes by a crop's origin.
        """
        if image_wh is None:
            image_wh = (self.input_hw[1] / ratio, self.input_hw[0] / ratio)
        rows = check_output(raw, ratio, self.spec)
        found = postprocess_small(rows, ratio, self.spec, self._small, image_wh, offset)
        if found is None:  # a case the small path leaves to the general one (see there)
            found = postprocess_rows(rows, ratio, self.spec, image_wh, offset)
        return found

    # -- whole path ---------------------------------------------------------------------

    def detect(self, frame_bgr: npt.NDArray[np.uint8]) -> list[Detection]:
        """Detect on the whole frame; boxes in frame pixels."""
        return self._run(check_frame(frame_bgr), (0, 0))

    def detect_in(self, frame_bgr: npt.NDArray[np.uint8], roi: Roi) -> list[Detection]:
        """Detect inside ``roi`` = (x1, y1, x2, y2) at model resolution; boxes in frame pixels.

        A crop around a zone gives small, distant bikes more model pixels than the whole
        frame would. The roi is clipped to the frame; boxes are clipped to the roi.
        """
        frame = check_frame(frame_bgr)
        x1, y1, x2, y2 = clamp_roi(roi, (frame.shape[0], frame.shape[1]))
        return self._run(frame[y1:y2, x1:x2], (x1, y1))

    def verify(self, frame_bgr: npt.NDArray[np.uint8], box: Box) -> Verdict:
        """Re-check a two-wheeler at ``box`` (frame pixels) on its crop (``config.verify``)."""
        return verify(check_frame(frame_bgr), box, self.detect, self.config.verify)

    def _run(self, image: npt.NDArray[np.uint8], offset: tuple[int, int]) -> list[Detection]:
        t0 = time.perf_counter()
        tensor, ratio = self._input.fill(image)
        t1 = time.perf_counter()
        raw = self.infer(tensor)
        t2 = time.perf_counter()
        found = self.postprocess(
            raw,
            ratio,
            image_wh=(float(image.shape[1]), float(image.shape[0])),
            offset=(float(offset[0]), float(offset[1])),
        )
        t3 = time.perf_counter()
        self.last_timings = {
            "preprocess_ms": (t1 - t0) * 1000,
            "infer_ms": (t2 - t1) * 1000,
            "postprocess_ms": (t3 - t2) * 1000,
            "total_ms": (t3 - t0) * 1000,
        }
        return found
