"""Property tests: whatever the detector says, the lifecycle stays well-formed."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.vision.sim import ZONE_POLY, drive
from vision.config import ZoneConfig
from vision.dwell import DecisionKind, DwellEngine, Observation
from vision.geometry import check_polygon
from vision.types import PERSON, TWO_WHEELER

K = DecisionKind

coord = st.floats(0.0, 0.95, allow_nan=False)
boxes = st.tuples(coord, coord, st.floats(0.02, 0.4), st.floats(0.02, 0.4)).map(
    lambda b: (b[0], b[1], min(1.0, b[0] + b[2]), min(1.0, b[1] + b[3]))
)
observation = st.builds(
    Observation,
    label=st.sampled_from([TWO_WHEELER, PERSON, "bicycle", "motorcycle"]),
    score=st.floats(0.3, 1.0),
    box=boxes,
    source_class=st.sampled_from(["bicycle", "motorcycle", "person", ""]),
)
# A scene: per sample, either a fixed parked bike, random clutter, or both.
scenes = st.lists(
    st.tuples(st.booleans(), st.lists(observation, max_size=3)), min_size=5, max_size=50
)


@settings(max_examples=40, deadline=None)
@given(scenes)
def test_lifecycle_is_well_formed(scene) -> None:
    zone = ZoneConfig(id="z", kind="corridor", polygon=ZONE_POLY, grace_s=5, gap_tolerance_s=4)
    eng = DwellEngine("cam", [zone])
    parked = Observation(TWO_WHEELER, 0.8, (0.3, 0.45, 0.6, 0.85), "bicycle")

    def at(t: float) -> list[Observation]:
        if int(t) >= len(scene):
            return []
        present, clutter = scene[int(t)]
        return ([parked] if present else []) + clutter

    run = drive(eng, at, until=len(scene) + 10)
    seen: dict[str, list[DecisionKind]] = {}
    for d in run.decisions:
        if d.candidate:
            seen.setdefault(d.candidate, []).append(d.kind)
    for kinds in seen.values():
        assert kinds[0] is K.OPENED
        assert kinds.count(K.VIOLATION_STARTED) <= 1
        if K.CLEARED in kinds:
            assert K.VIOLATION_STARTED in kinds
            assert kinds.index(K.CLEARED) > kinds.index(K.VIOLATION_STARTED)
        ends = [k for k in kinds if k in (K.CLEARED, K.DROPPED)]
        assert len(ends) <= 1 and (not ends or kinds[-1] in (K.CLEARED, K.DROPPED))
    # Ten empty seconds after the scene: nothing survives the 4 s gap tolerance.
    assert not eng.candidates
    for d in run.of(K.VIOLATION_STARTED):
        assert d.facts["dwell_s"] >= zone.grace_s


@given(st.integers(3, 12), st.floats(0.05, 0.45), st.floats(0, 2 * math.pi))
def test_convex_polygons_are_accepted(n: int, radius: float, phase: float) -> None:
    pts = [
        (
            0.5 + radius * math.cos(phase + 2 * math.pi * i / n),
            0.5 + radius * math.sin(phase + 2 * math.pi * i / n),
        )
        for i in range(n)
    ]
    check_polygon(pts)
