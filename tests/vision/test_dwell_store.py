"""Persistence of candidates: round trip, re-basing, and damaged files."""

from __future__ import annotations

from tests.vision.sim import T0_WALL, ZONE_POLY, bike, drive
from vision.config import ZoneConfig
from vision.dwell import DwellEngine
from vision.dwell_store import DwellStore

ZONE = ZoneConfig(id="z", kind="corridor", polygon=ZONE_POLY, grace_s=10)


def test_round_trip_rebases_on_the_new_clock(tmp_path) -> None:
    eng = DwellEngine("cam", [ZONE])
    drive(eng, lambda t: [bike()], until=15)
    store = DwellStore(tmp_path, "cam")
    store.save(list(eng.candidates.values()), T0_WALL)
    (before,) = eng.candidates.values()
    (after,) = store.load(now=7.0)
    assert after.id == before.id and after.anchor == before.anchor
    assert after.dwell_s == before.dwell_s and after.signature == before.signature
    assert after.violation is not None and after.violation.id == before.violation.id  # type: ignore[union-attr]
    assert after.violation.announced
    assert after.last_seen == after.last_step == 7.0  # a fresh gap-tolerance window
    assert not list(tmp_path.glob("*.tmp"))


def test_damaged_or_foreign_files_start_clean(tmp_path, caplog) -> None:
    store = DwellStore(tmp_path, "cam")
    assert store.load(now=0.0) == []  # no file yet
    store.path.write_text("{not json")
    assert store.load(now=0.0) == []
    store.path.write_text('{"version": 99, "candidates": []}')
    assert store.load(now=0.0) == []
    store.path.write_text('{"version": 1, "candidates": [{"id": "x"}]}')
    assert store.load(now=0.0) == []
    assert "unreadable" in caplog.text and "malformed" in caplog.text
