"""How often a camera should sample, given its state and the shared inference load (pure).

Cameras do not queue frames for the detector. Each asks :class:`SamplingPolicy` for the
next interval after every sample, passing the shared worker's load, and simply samples
less often when the worker is saturated. The rule, in order:

1. Base interval: ``active_interval_s`` while the camera has an open candidate (a bike in
   a zone that is not yet confirmed or cleared), else ``idle_interval_s``.
2. Busy stretch: if the worker was busy more than ``target_busy`` of the recent window,
   multiply by ``busy_fraction / target_busy`` (at most ``1 / target_busy``: a fully busy
   worker stretches a 0.75 target by 1.33x).
3. Queue stretch: a busy fraction cannot show *how* oversubscribed the worker is, but
   requests already waiting can; multiply by ``1 + queue_depth``. With N cameras all
   waiting, each backs off about N-fold, which spreads them out instead of queueing.
4. Clamp to ``[base, max_interval_s]``, so load never makes a camera sample faster than its
   base and never slower than ``max_interval_s`` (dwell timing stays bounded).

Durations are in seconds; callers measure them with a monotonic clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SamplingPolicy:
    """Per-camera sampling intervals that stretch when the shared detector is saturated."""

    idle_interval_s: float = 1.0
    active_interval_s: float = 0.25
    max_interval_s: float = 5.0
    target_busy: float = 0.75

    def __post_init__(self) -> None:
        if not 0 < self.active_interval_s <= self.idle_interval_s <= self.max_interval_s:
            raise ValueError(
                "need 0 < active_interval_s <= idle_interval_s <= max_interval_s, got "
                f"{self.active_interval_s}, {self.idle_interval_s}, {self.max_interval_s}"
            )
        if not 0 < self.target_busy <= 1:
            raise ValueError(f"target_busy must be in (0, 1], got {self.target_busy}")

    def next_interval(self, candidate_open: bool, busy_fraction: float, queue_depth: int) -> float:
        """Seconds to wait before this camera's next sample (see the module rule)."""
        base = self.active_interval_s if candidate_open else self.idle_interval_s
        busy = busy_fraction if math.isfinite(busy_fraction) else 1.0
        busy = min(max(busy, 0.0), 1.0)
        stretch = max(1.0, busy / self.target_busy) * (1 + max(0, int(queue_depth)))
        return min(max(base * stretch, base), self.max_interval_s)
