"""Plain value types shared by the vision modules (no third-party imports)."""

from __future__ import annotations

from dataclasses import dataclass

# (x1, y1, x2, y2) in original-image pixels.
Box = tuple[float, float, float, float]

TWO_WHEELER = "two_wheeler"
PERSON = "person"


@dataclass(frozen=True, slots=True)
class Detection:
    """One object found in a frame, after class merging and NMS."""

    label: str  # TWO_WHEELER or PERSON (or another configured output label)
    score: float
    box: Box
    source_class: str = ""  # the model's own class name, e.g. "bicycle" or "motorcycle"
