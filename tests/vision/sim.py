"""Simulated-time helpers for dwell tests: a scripted scene sampled like the driver does."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from vision.dwell import Decision, DecisionKind, DwellEngine, Observation, Sample
from vision.types import PERSON, TWO_WHEELER, Box

T0_WALL = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # a Saturday, noon UTC

BIKE: Box = (0.30, 0.45, 0.60, 0.85)  # bottom-centre (0.45, 0.85)
ZONE_POLY = [(0.1, 0.6), (0.9, 0.6), (0.9, 0.98), (0.1, 0.98)]


def bike(box: Box = BIKE, source: str = "bicycle", score: float = 0.8) -> Observation:
    return Observation(TWO_WHEELER, score, box, source)


def person(box: Box) -> Observation:
    return Observation(PERSON, 0.9, box, "person")


@dataclass
class Run:
    decisions: list[Decision] = field(default_factory=list)

    def of(self, kind: DecisionKind) -> list[Decision]:
        return [d for d in self.decisions if d.kind is kind]


def drive(
    engine: DwellEngine,
    scene: Callable[[float], list[Observation]],
    *,
    start: float = 0.0,
    until: float,
    interval: float = 1.0,
    run: Run | None = None,
) -> Run:
    """Sample ``scene`` every ``interval`` s of simulated time; announce violations at once."""
    run = run or Run()
    t = start
    while t <= until + 1e-9:
        sample = Sample(t, T0_WALL + timedelta(seconds=t), scene(t))
        for d in engine.step(sample):
            run.decisions.append(d)
            if d.kind is DecisionKind.VIOLATION_STARTED and d.candidate:
                engine.mark_announced(d.candidate)
        t += interval
    return run
