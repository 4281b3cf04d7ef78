"""The second look before a violation (vision/verify.py, vision/observe.py settle)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from tests.vision.sim import T0_WALL, bike
from vision.config import ZoneConfig
from vision.dwell import DecisionKind, DwellEngine, Sample
from vision.observe import settle, to_check
from vision.types import PERSON, TWO_WHEELER, Detection
from vision.verify import MARGIN, Verdict, crop_rect, verify

FRAME = np.zeros((400, 600, 3), np.uint8)
BOX = (100.0, 100.0, 200.0, 300.0)


def test_crop_grows_the_box_by_the_margin_and_clips_to_the_frame() -> None:
    assert MARGIN == 0.25
    assert crop_rect(BOX, (600, 400)) == (75, 50, 225, 350)
    assert crop_rect((0.0, 0.0, 600.0, 400.0), (600, 400)) == (0, 0, 600, 400)


class _Fake:
    """Answers on the crop and on its mirror with boxes given in the crop's pixels."""

    def __init__(self, plain: list[Detection], mirrored: list[Detection]) -> None:
        self.answers = [plain, mirrored]
        self.seen: list[tuple[int, int]] = []

    def __call__(self, image: np.ndarray) -> list[Detection]:
        self.seen.append(image.shape[:2])
        return self.answers[len(self.seen) - 1]


def _det(box: tuple[float, float, float, float], label: str = TWO_WHEELER) -> Detection:
    return Detection(label, 0.8, box, "bicycle")


def test_confirmed_when_crop_and_mirror_agree() -> None:
    # Crop origin (75, 50), width 150: BOX is (25, 50, 125, 250) in the crop and
    # (150 - 125, 50, 150 - 25, 250) = (25, 50, 125, 250) in its mirror.
    fake = _Fake([_det((25, 50, 125, 250))], [_det((25, 50, 125, 250))])
    v = verify(FRAME, BOX, fake, "crop_flip")
    assert v.confirmed and v.crop_iou == 1.0 and v.flip_iou == 1.0
    assert fake.seen == [(300, 150), (300, 150)]


def test_mirrored_boxes_are_mapped_back() -> None:
    # A box at the crop's left edge in the mirror is the right edge in the frame.
    fake = _Fake([_det((25, 50, 125, 250))], [_det((0, 50, 100, 250))])
    v = verify(FRAME, BOX, fake, "crop_flip")
    assert v.flip_iou is not None and abs(v.flip_iou - (75 / 125)) < 1e-9  # x 125..225 vs 100..200


def test_rejected_without_a_two_wheeler_on_the_crop() -> None:
    fake = _Fake([_det((25, 50, 125, 250), PERSON)], [])
    v = verify(FRAME, BOX, fake, "crop_flip")
    assert not v.confirmed and v.flip_iou is None  # the mirror is not run after a miss
    assert "not confirmed" in v.reason()
    assert verify(FRAME, BOX, _Fake([], []), "off").confirmed


def test_crop_mode_ignores_the_mirror() -> None:
    fake = _Fake([_det((25, 50, 125, 250))], [])
    assert verify(FRAME, BOX, fake, "crop").confirmed and len(fake.seen) == 1


def _engine_at_violation() -> tuple[DwellEngine, list]:
    zone = ZoneConfig.model_validate(
        {"id": "z", "kind": "corridor", "polygon": [(0, 0), (1, 0), (1, 1), (0, 1)], "grace_s": 5}
    )
    engine = DwellEngine("cam", [zone])
    for t in range(0, 8):
        decisions = engine.step(Sample(float(t), T0_WALL + timedelta(seconds=t), [bike()]))
        if any(d.kind is DecisionKind.VIOLATION_STARTED for d in decisions):
            return engine, decisions
    raise AssertionError("no violation")


def test_rejected_violation_is_dropped_with_the_reason() -> None:
    engine, decisions = _engine_at_violation()
    verified: set[str] = set()
    pending = to_check(engine, decisions, verified)
    (cid,) = pending
    no = Verdict(False, (0, 0, 1, 1), 0.1, None)
    out = settle(engine, decisions, {cid: no}, verified)
    assert [d.kind for d in out if d.candidate == cid][-1] is DecisionKind.DROPPED
    assert not any(d.kind is DecisionKind.VIOLATION_STARTED for d in out)
    assert "not confirmed by a re-check" in out[-1].reason
    assert cid not in engine.candidates


def test_confirmed_violation_goes_on_and_is_not_checked_again() -> None:
    engine, decisions = _engine_at_violation()
    verified: set[str] = set()
    (cid,) = to_check(engine, decisions, verified)
    yes = Verdict(True, (0, 0, 1, 1), 0.9, 0.9)
    out = settle(engine, decisions, {cid: yes}, verified)
    assert any(d.kind is DecisionKind.VIOLATION_STARTED for d in out)
    assert to_check(engine, decisions, verified) == {}  # once per candidate


def test_failed_check_waits_for_the_next_sighting() -> None:
    engine, decisions = _engine_at_violation()
    verified: set[str] = set()
    (cid,) = to_check(engine, decisions, verified)
    out = settle(engine, decisions, {cid: None}, verified)
    assert not any(d.kind is DecisionKind.VIOLATION_STARTED for d in out)
    assert cid in engine.candidates and to_check(engine, decisions, verified) == {
        cid: engine.candidates[cid].anchor
    }
