"""``edge-agent simulate wearable`` feeding ``edge-agent serial monitor`` over a real pty."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_monitor_shows_simulated_frames(tmp_path: Path) -> None:
    # --duration: up to 60 s of wall time at x600, so a loaded machine that is slow to
    # start the monitor still finds the port open (the simulator is killed at the end).
    link = tmp_path / "wearable"
    sim = subprocess.Popen(
        [sys.executable, "-m", "agent", "simulate", "wearable", "--link", str(link),
         "--devices", "2", "--scenario", "sos", "--speed", "600", "--duration", "36000"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert sim.stdout is not None
        assert sim.stdout.readline().strip() == str(link)  # the path to open
        out = subprocess.run(
            [sys.executable, "-m", "agent", "serial", "monitor", "--port", str(link),
             "--codec", "bracelet", "--json", "--frames", "3"],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
    finally:
        sim.kill()
        sim.wait()
    docs = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(docs) == 3
    assert all(d["stats"]["frames_ok"] >= 1 for d in docs)
    assert {o["kind"] for d in docs for o in d["obs"]} >= {"hr", "spo2"}
