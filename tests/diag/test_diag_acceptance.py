"""Issue 14 acceptance: ``diag --json`` names exactly the broken devices, agent running or not.

One gateway with a good and a broken device of each kind, all real: a pymodbus simulator
serving unit 1 (unit 7 configured, never answers), the wearable simulator on a pty and a
pty carrying garbage, a camera on a real video file and one whose file is gone, and a
real Mosquitto with TLS whose certificate our configured CA did not sign. The host
readings come from a fake sysfs tree, so the host checks are deterministic here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.status import StatusSnapshot, live_status
from tests.broker import Mosquitto
from tests.shared_data import MODEL_SHA256, REPO
from tests.spine.agentproc import AgentProcess, wait_for, write_config
from tests.spine.test_tls import make_pki, tls_broker, tls_mqtt
from tests.vision.clips import ZONE, State, load_props, make_clip


def env() -> dict[str, str]:
    # The test machine's clock may not be NTP-synchronised; that is not what is tested.
    return {**os.environ, "EDGE_AGENT_ASSUME_CLOCK_SYNC": "1", "PYTHONUNBUFFERED": "1"}


def fake_sysfs(root: Path) -> Path:
    files = {
        "sys/devices/platform/soc/soc:firmware/get_throttled": "0x0\n",
        "sys/class/thermal/thermal_zone0/temp": "47500\n",
        "sys/class/thermal/thermal_zone0/type": "cpu-thermal\n",
        "proc/meminfo": "MemTotal: 4000000 kB\nMemFree: 100 kB\nMemAvailable: 3000000 kB\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


class Garbage:
    """A pty whose far end writes bytes that never form a Seeed 5359 frame."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)
        os.set_blocking(self.master, False)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="garbage-writer")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                os.write(self.master, b"hello garbage \x00\xff\x10 no header here ")
            except BlockingIOError:
                continue  # nobody reads: the pty is full

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        os.close(self.master)
        os.close(self.slave)


class Background:
    """A simulator CLI in its own process; ``line`` is the first line it printed."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "simulate", *args],
            cwd=REPO,
            env=env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        self.line = self.proc.stdout.readline().strip()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.fixture
def gateway(tmp_path: Path, shared_dir: Path) -> Iterator[dict[str, Any]]:
    make_pki(tmp_path)
    make_pki(tmp_path, prefix="other-")
    broker, tls_port = tls_broker(tmp_path)
    elevators = Background("elevator", "--port", "0", "--unit", "1=normal", "--speed", "10")
    wearable = Background("wearable", "--speed", "60", "--duration", "36000")
    garbage = Garbage()
    try:
        port = int(re.search(r"TCP on [\d.]+:(\d+)", elevators.line).group(1))  # type: ignore[union-attr]
        yield {
            "tmp": tmp_path,
            "broker": broker,
            "tls_port": tls_port,
            "modbus_port": port,
            "wearable": wearable.line,
            "garbage": garbage.path,
            "shared": shared_dir,
        }
    finally:
        garbage.close()
        wearable.stop()
        elevators.stop()
        broker.stop()


def drivers(g: dict[str, Any]) -> list[dict[str, Any]]:
    tmp, shared = g["tmp"], g["shared"]
    clip = make_clip(tmp / "good.avi", load_props(shared), 4, lambda t: State(bike=False))
    model = {"path": str(shared / "models" / "yolox_nano.onnx"), "sha256": MODEL_SHA256}

    def camera(name: str, source: Path) -> dict[str, Any]:
        return {
            "name": name, "kind": "camera", "source": str(source), "model": model,
            "zones": [{"id": "corridor-a", "kind": "corridor", "polygon": ZONE}],
            "file_end": "loop", "offline_after_s": 2.0, "open_timeout_s": 2.0,
            "read_timeout_s": 2.0, "reconnect_max_s": 2.0,
        }  # fmt: skip

    return [
        {
            "name": "lifts", "kind": "modbus", "port": g["modbus_port"],
            "request_timeout_ms": 300, "offline_probe_interval_ms": 1000,
            "devices": [
                {"id": "car-1", "unit_id": 1, "profile": "gb-monitor-box", "time_speed": 10},
                {"id": "car-7", "unit_id": 7, "profile": "gb-monitor-box", "time_speed": 10},
            ],
        },
        {
            "name": "bands", "kind": "serial", "port": g["wearable"], "codec": "bracelet",
            "time_speed": 60,
            "devices": [{"id": "band-1", "resident": "r0001", "frame_id": "00000001"}],
        },
        {
            "name": "radar", "kind": "serial", "port": g["garbage"], "codec": "seeed5359",
            "devices": [{"id": "radar-1", "resident": "r0002"}],
        },
        camera("cam-good", clip),
        camera("cam-gone", tmp / "unplugged.avi"),
    ]  # fmt: skip


def diag(config: Path, sysroot: Path) -> tuple[int, dict[str, Any]]:
    out = subprocess.run(
        [sys.executable, "-m", "agent", "diag", "--config", str(config), "--json",
         "--sysroot", str(sysroot), "--listen", "3"],
        cwd=REPO, env=env(), capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert out.stdout, out.stderr
    return out.returncode, json.loads(out.stdout)


def failures(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(f["check"], f["target"]) for f in report["findings"] if f["status"] == "fail"}


def statuses(report: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(f["check"], f["target"]): f["status"] for f in report["findings"]}


def expected(g: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        ("modbus.device", "lifts/car-7 (unit 7)"),
        ("serial.port", f"radar ({g['garbage']})"),
        ("camera.frame", "cam-gone"),
        ("broker.connect", f"127.0.0.1:{g['tls_port']}"),
    }


def settled(path: Path) -> bool:
    """Every device has been judged by the running agent (no longer 'unknown')."""
    s: StatusSnapshot | None = live_status(path)
    if s is None or s.uplink.state != "down":
        return False
    states = {(d.driver, d.device): d for d in s.devices}
    band = next((d for d in s.devices if d.driver == "bands"), None)
    radar = next((d for d in s.devices if d.driver == "radar"), None)
    return (
        states.get(("lifts", "car-7")) is not None
        and states[("lifts", "car-7")].state == "offline"
        and states.get(("lifts", "car-1")) is not None
        and states[("lifts", "car-1")].state == "online"
        and states.get(("cam-gone", "cam-gone")) is not None
        and states[("cam-gone", "cam-gone")].state == "offline"
        and states.get(("cam-good", "cam-good")) is not None
        and states[("cam-good", "cam-good")].state == "online"
        and band is not None and band.last_seen is not None
        and radar is not None and int(radar.details.get("bytes_in") or 0) > 0
    )  # fmt: skip


def test_diag_names_exactly_the_broken_devices_running_and_stopped(
    gateway: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    g = gateway
    tmp: Path = g["tmp"]
    broker: Mosquitto = g["broker"]
    mqtt = tls_mqtt(tmp, g["tls_port"])
    mqtt["tls"]["ca"] = str(tmp / "other-ca.crt")  # the broker's cert is not signed by it
    cfg = write_config(
        tmp / "c.yaml", port=broker.port, buffer=tmp / "state" / "b.db", drivers=drivers(g),
        mqtt=mqtt, extra={"health": {"interval_s": 1, "sysfs_root": str(fake_sysfs(tmp / "sys"))}},
    )  # fmt: skip
    sysroot = tmp / "sys"
    monkeypatch.setenv("EDGE_AGENT_ASSUME_CLOCK_SYNC", "1")
    agent = AgentProcess(cfg, tmp / "agent.log").start()
    assert agent.proc is not None
    try:
        status = tmp / "state" / "status.json"
        assert wait_for(lambda: settled(status), 90), (status.read_text(), agent.log())
        code, running = diag(cfg, sysroot)
        assert failures(running) == expected(g), json.dumps(running, indent=1)
        assert code == 1 and running["ok"] is False
        seen = statuses(running)
        assert seen[("agent.state", f"pid {agent.proc.pid}")] == "pass"
        assert seen[("modbus.device", "lifts/car-1 (unit 1)")] == "pass"
        assert seen[("camera.frame", "cam-good")] == "pass"
        assert seen[("serial.port", f"bands ({g['wearable']})")] == "pass"
        assert seen[("camera.model", "cam-good")] == "pass"
        assert seen[("host.power", "supply")] == "pass"
    finally:
        assert agent.terminate() == 0, agent.log()
    code, stopped = diag(cfg, sysroot)
    assert failures(stopped) == expected(g), json.dumps(stopped, indent=1)
    assert code == 1
    seen = statuses(stopped)
    assert seen[("agent.state", "")] == "warn"
    assert seen[("modbus.device", "lifts/car-1 (unit 1)")] == "pass"
    by_check = {(f["check"], f["target"]): f for f in stopped["findings"]}
    assert by_check[("modbus.device", "lifts/car-1 (unit 1)")]["measured"]["rtt_ms"] > 0
    assert by_check[("camera.frame", "cam-good")]["measured"]["resolution"] == "640x480"
    assert (
        "certificate verify failed"
        in by_check[("broker.connect", f"127.0.0.1:{g['tls_port']}")]["value"].lower()
    )
