"""Typed settings of the ONNX detector (pydantic only, cheap to import)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# COCO ids (0-based, 80-class list) the default YOLOX-Nano model uses; see
# ../shared/models/PROVENANCE.md.
DEFAULT_CLASS_MAP: dict[int, str] = {0: "person", 1: "two_wheeler", 3: "two_wheeler"}
DEFAULT_SOURCE_NAMES: dict[int, str] = {0: "person", 1: "bicycle", 3: "motorcycle"}

# How a two-wheeler is re-checked before it becomes a violation (vision/verify.py).
VerifyMode = Literal["off", "crop", "crop_flip"]


class ModelConfig(BaseModel):
    """Which ONNX file to load, how to verify it and how to read its output."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    path: Path = Field(description="ONNX model file (never downloaded at run time).")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Expected SHA-256 of the file.")
    input_size: tuple[int, int] = Field(
        default=(416, 416), description="Model input (height, width)."
    )
    num_classes: int = Field(default=80, ge=1, description="Class scores per output row.")
    class_map: dict[int, str] = Field(
        default_factory=lambda: dict(DEFAULT_CLASS_MAP),
        description="Model class id -> output label; classes mapped to the same label are "
        "merged before NMS (bicycle and motorcycle -> two_wheeler). Others are ignored.",
    )
    source_names: dict[int, str] = Field(
        default_factory=lambda: dict(DEFAULT_SOURCE_NAMES),
        description="Model class id -> the model's own class name, kept for diagnostics.",
    )
    score_threshold: float = Field(default=0.3, ge=0, le=1)
    class_margin: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="A label claims an output row only where its score is the row's best "
        "class score, or within this much of it (0 = upstream's best-class rule).",
    )
    nms_iou: float = Field(default=0.45, gt=0, le=1)
    verify: VerifyMode = Field(
        default="crop_flip",
        description="Second look before a violation: re-detect on the candidate's crop "
        "(crop), and on its mirror too (crop_flip), or not at all (off). One or two extra "
        "inferences per candidate at confirmation, none per frame.",
    )
    threads: int = Field(default=2, ge=1, le=16, description="Inference threads (shared).")
