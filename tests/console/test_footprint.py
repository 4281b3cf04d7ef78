"""The console's footprint: aiohttp only when ``console:`` is configured, and never OpenCV,
numpy, onnxruntime or sqlite-utils on a camera-less gateway even with the console serving.

Each case runs the start-up path in a fresh interpreter, as tests/spine/test_footprint.py
does, and with the console configured it also starts and stops the console's listener.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.broker import free_port
from tests.shared_data import REPO

HEAVY = {"numpy", "cv2", "onnxruntime", "sqlite_utils"}
PROBE = """
import asyncio, json, sys
from agent.app import Agent
from agent.cli import build_parser
from agent.config import load_config

async def main():
    build_parser()
    agent = Agent(load_config(sys.argv[1]))
    await agent.outbox.open()
    try:
        for driver in agent.loaded.config.drivers:
            agent._make_driver(driver)
        await agent._start_console()
        assert (agent.console is not None) == (agent.loaded.config.console is not None)
        if agent.console is not None:
            await agent.console.stop()
    finally:
        await agent.outbox.close(timeout=5.0)
asyncio.run(main())
print(json.dumps(sorted({n.partition(".")[0] for n in sys.modules})))
"""


def _loaded(tmp: Path, console: dict[str, Any] | None) -> set[str]:
    doc: dict[str, Any] = {
        "gateway": {"id": "gw-1"},
        "mqtt": {"host": "127.0.0.1", "insecure": True},
        "buffer": {"path": str(tmp / "state" / "buffer.db")},
        "drivers": [
            {"name": "lifts", "kind": "modbus",
             "devices": [{"id": "lift-1", "unit_id": 1, "profile": "gb-monitor-box"}]},
            {"name": "synth", "kind": "synthetic", "count": 3},
        ],
    }  # fmt: skip
    if console is not None:
        doc["console"] = console
    config = tmp / "agent.yaml"
    config.write_text(yaml.safe_dump(doc, sort_keys=False))
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(config)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_without_console_aiohttp_is_never_imported(tmp_path: Path) -> None:
    modules = _loaded(tmp_path, None)
    assert "pymodbus" in modules  # the probe reached the drivers
    assert "aiohttp" not in modules
    assert HEAVY.isdisjoint(modules), sorted(HEAVY & modules)


def test_console_on_a_camera_less_gateway_loads_aiohttp_and_nothing_heavy(tmp_path: Path) -> None:
    modules = _loaded(tmp_path, {"listen": f"127.0.0.1:{free_port()}"})
    assert "aiohttp" in modules
    assert HEAVY.isdisjoint(modules), sorted(HEAVY & modules)
