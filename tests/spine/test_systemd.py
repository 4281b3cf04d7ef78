"""sd_notify contract with a fake NOTIFY_SOCKET; the unit file passes systemd-analyze."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.broker import Mosquitto
from tests.shared_data import REPO
from tests.spine.agentproc import synthetic, write_config


def test_ready_watchdog_and_stopping_are_sent(tmp_path: Path, broker: Mosquitto) -> None:
    sock_path = tmp_path / "notify.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(sock_path))
    server.settimeout(0.2)
    cfg = write_config(
        tmp_path / "c.yaml",
        port=broker.port,
        buffer=tmp_path / "b.db",
        drivers=[synthetic(5, 10, name="s")],
    )
    env = {**os.environ, "NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "1000000"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", "run", "--config", str(cfg)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    got: list[str] = []
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline and sum("WATCHDOG=1" in m for m in got) < 3:
            with contextlib.suppress(TimeoutError):
                got.append(server.recv(4096).decode())
        assert got and got[0].startswith("READY=1"), got
        proc.terminate()
        assert proc.wait(10) == 0
        while True:
            try:
                got.append(server.recv(4096).decode())
            except TimeoutError:
                break
        assert "STOPPING=1" in got
    finally:
        if proc.poll() is None:
            proc.kill()
        server.close()


def test_unit_file_is_hardened() -> None:
    unit = REPO / "systemd" / "edge-agent.service"
    out = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--threshold=30", str(unit)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr


def test_unit_never_stops_restarting() -> None:
    # StartLimitBurst within an interval would leave an unattended gateway dead for good.
    text = (REPO / "systemd" / "edge-agent.service").read_text()
    keys = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and line[0] != "#")
    assert keys.get("StartLimitIntervalSec") == "0"
    assert "StartLimitBurst" not in keys
    assert keys.get("Restart") == "always"
    out = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(REPO / "systemd" / "edge-agent.service")],
        capture_output=True,
        text=True,
    )
    assert "StartLimit" not in out.stderr, out.stderr
