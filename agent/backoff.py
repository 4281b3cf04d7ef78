"""Full-jitter exponential backoff (AWS architecture blog's "full jitter")."""

from __future__ import annotations

import random


def full_jitter(
    attempt: int, *, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """A delay drawn uniformly from [0, min(cap, base * 2**attempt)].

    Full jitter spreads the reconnects of many gateways after a platform outage, so they
    do not return in lock-step.
    """
    ceiling = min(cap, base * (2 ** min(attempt, 30)))
    return (rng or random).uniform(0, ceiling)
