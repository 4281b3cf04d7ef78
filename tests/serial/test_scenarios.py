"""Every simulator scenario, through a real pty, yields exactly its expected episodes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from drivers.serial.simulator.scenarios import SCENARIOS
from tests.serial.harness import episodes, play

A, E = "alarm", "event"
EXPECTED = {
    "normal": [],
    "noise": [],
    "sos": [("SOS", "raised", A, "critical")],
    "fall": [("FALL", "raised", A, "critical")],
    "fall_cancelled": [("FALL", "raised", A, "critical"), ("FALL", "cleared", A, "info")],
    "radar_fall": [("FALL", "raised", A, "critical"), ("FALL", "cleared", A, "info")],
    "bradycardia": [("HR_LOW", "raised", A, "warning"), ("HR_LOW", "cleared", A, "info")],
    "low_spo2": [("SPO2_LOW", "raised", A, "critical"), ("SPO2_LOW", "cleared", A, "info")],
    "fever": [("TEMP_HIGH", "raised", A, "warning"), ("TEMP_HIGH", "cleared", A, "info")],
    "silent": [("SILENT", "raised", A, "critical")],
    "off_wrist": [("OFF_WRIST", "raised", E, "warning"), ("OFF_WRIST", "cleared", E, "info")],
    "low_battery": [("LOW_BATTERY", "raised", E, "warning")],
}


def test_every_scenario_has_expectations() -> None:
    assert set(EXPECTED) == set(SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario(tmp_path: Path, scenario: str) -> None:
    sink = asyncio.run(play(tmp_path, scenario))
    assert episodes(sink) == EXPECTED[scenario]
    ids = {e.data["key"]: set() for e in sink.events if "key" in e.data}
    for e in sink.events:
        if "key" in e.data:
            ids[e.data["key"]].add(e.data["episode"])
            assert e.data["resident"].startswith("r")  # opaque ref, never a name
    assert all(len(v) == 1 for v in ids.values())  # one episode id per raise/clear pair
    vitals = sink.of_type("resident.vitals")
    if scenario not in ("radar_fall",):
        assert vitals and all(v.priority.label == "telemetry" for v in vitals)
