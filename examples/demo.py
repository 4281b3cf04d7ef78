"""The README demo: the real agent with simulated devices, forwarding to a local broker.

Starts, all on loopback and in a scratch directory:
  * a Mosquitto broker on a free port (the "central platform" side),
  * `edge-agent simulate elevator`: two controllers on one Modbus TCP bus, unit 2 runs a
    scripted entrapment,
  * a camera fed from a clip built from the shared test photos, one corridor zone,
  * `edge-agent simulate wearable`: three bracelets on a pty (one SOS, one fall, one that
    falls silent) and a fall radar on another (fall + stationary dwell),
  * an installer's synthetic uplink check,
  * the agent itself (`edge-agent run`), with the outbox in the scratch directory,
and prints every event the platform receives. It ends after --seconds (or Ctrl-C) with a
summary, and exits non-zero if the expected entrapment alarm, parking violation and its
snapshots, or the residents' SOS, fall and silence alarms did not arrive.

    .venv/bin/python examples/demo.py [--seconds 90] [--shared ../shared]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion

REPO = Path(__file__).resolve().parent.parent
EDGE_AGENT = [sys.executable, "-m", "agent"]
DEMO_SPEED = 3
WEAR_SPEED = 20  # simulated seconds per second for the wearables and the radar


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise SystemExit(f"nothing listening on 127.0.0.1:{port}")


def start(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)


def driver_entries(example: str) -> list[dict[str, Any]]:
    doc = yaml.safe_load((REPO / "examples" / example).read_text())
    entries: list[dict[str, Any]] = doc["drivers"]
    return entries


def describe(topic: str, payload: bytes) -> str:
    if "/snapshots/" in topic:
        return f"{topic}  <{len(payload)} bytes JPEG>"
    if topic.endswith("/status"):
        return f"{topic}  {payload.decode()}"
    doc = json.loads(payload)
    data = json.dumps(doc.get("data", {}), ensure_ascii=False)
    if len(data) > 110:
        data = data[:107] + "..."
    return (
        f"[{doc['priority']:>9}] seq={doc['seq']:<5} {doc['type']:<32} {doc['subject']:<14} {data}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=90.0, help="how long to run")
    parser.add_argument(
        "--shared",
        default=os.environ.get("EDGE_AGENT_SHARED", str(REPO.parent / "shared")),
        help="the shared models and test photos",
    )
    parser.add_argument(
        "--show-telemetry",
        action="store_true",
        help="print telemetry messages too (they are always counted)",
    )
    args = parser.parse_args()
    shared = Path(args.shared).resolve()
    model = shared / "models" / "yolox_nano.onnx"
    if not model.exists():
        raise SystemExit(f"model not found at {model}; pass --shared")
    work = Path(tempfile.mkdtemp(prefix="edge-demo-"))
    print(f"demo directory: {work}")

    broker_port, modbus_port = free_port(), free_port()
    (work / "mosquitto.conf").write_text(
        f"persistence false\nuser root\nlistener {broker_port} 127.0.0.1\nallow_anonymous true\n"
        if os.geteuid() == 0
        else f"persistence false\nlistener {broker_port} 127.0.0.1\nallow_anonymous true\n"
    )
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    procs: list[subprocess.Popen[bytes]] = []
    procs.append(start([mosquitto, "-c", str(work / "mosquitto.conf")], work / "mosquitto.log"))
    wait_port(broker_port)

    clip = work / "demo.avi"
    subprocess.run(
        [sys.executable, "examples/make_demo_clip.py", "--shared", str(shared), "--out", str(clip)],
        cwd=REPO,
        check=True,
    )
    procs.append(
        start(
            [
                *EDGE_AGENT,
                "simulate",
                "elevator",
                "--port",
                str(modbus_port),
                "--unit",
                "1=normal",
                "--unit",
                "2=entrapment-level",
                "--speed",
                str(DEMO_SPEED),
            ],
            work / "simulator.log",
        )
    )
    wait_port(modbus_port)
    # Residents: three bracelets (one SOS, one fall, one that falls silent) and a fall radar
    # on pseudo-terminals; their alarms travel the same outbox to the broker.
    for link, scenario in (("wearables", ["sos", "fall", "silent"]), ("radar", ["radar_fall"])):
        cmd = [*EDGE_AGENT, "simulate", "wearable", "--link", str(work / link),
               "--devices", str(len(scenario)), "--speed", str(WEAR_SPEED),
               "--duration", "3600"]  # fmt: skip
        for name in scenario:
            cmd += ["--scenario", name]
        procs.append(start(cmd, work / f"{link}.log"))
    for link in ("wearables", "radar"):
        deadline = time.monotonic() + 15
        while not (work / link).exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    drivers = driver_entries("modbus-demo.yaml") + driver_entries("camera-demo.yaml")
    for d in drivers:
        if d.get("kind") == "modbus":
            d["port"] = modbus_port
            # The simulator runs its script DEMO_SPEED times faster; the driver divides
            # the GB hold times by the same factor so the entrapment shows within a minute.
            for device in d["devices"]:
                device["time_speed"] = DEMO_SPEED
        if d.get("kind") == "camera":
            d["source"] = str(clip)
            d["model"]["path"] = str(model)
    drivers += [
        {"name": "bracelets", "kind": "serial", "port": str(work / "wearables"),
         "codec": "bracelet", "time_speed": WEAR_SPEED,
         "devices": [{"id": f"band-{n}", "resident": f"r-{n:04d}", "frame_id": f"{n:08x}"}
                     for n in (1, 2, 3)]},
        {"name": "fall-radar", "kind": "serial", "port": str(work / "radar"),
         "codec": "seeed5359", "time_speed": WEAR_SPEED,
         "devices": [{"id": "radar-1", "resident": "r-0004"}]},
    ]  # fmt: skip
    drivers.append(
        {
            "name": "uplink-check",
            "kind": "synthetic",
            "count": 5,
            "rate_hz": 1,
            "priority": "telemetry",
        }
    )
    config = {
        "gateway": {"id": "gw-demo", "site": "demo-community"},
        "mqtt": {"host": "127.0.0.1", "port": broker_port, "insecure": True},
        "buffer": {"path": str(work / "buffer.db")},
        "drivers": drivers,
    }
    cfg_path = work / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(config, sort_keys=False))
    subprocess.run([*EDGE_AGENT, "config", "check", str(cfg_path)], cwd=REPO, check=True)

    seen: Counter[str] = Counter()
    entrapment_alarms = 0
    snapshots = 0
    resident_alarms: set[str] = set()
    lock = threading.Lock()

    def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        nonlocal snapshots, entrapment_alarms
        payload = bytes(msg.payload)
        with lock:
            if "/snapshots/" in msg.topic:
                snapshots += 1
            elif "/events/" in msg.topic or "/telemetry/" in msg.topic:
                doc = json.loads(payload)
                seen[doc["type"]] += 1
                if (
                    doc["type"].startswith("elevator.")
                    and doc["priority"] == "alarm"
                    and "entrap" in payload.decode().lower()
                ):
                    entrapment_alarms += 1
                if doc["type"] == "resident.alarm" and doc["data"]["state"] == "raised":
                    resident_alarms.add(
                        f"{doc['data']['key']}:{doc['data'].get('trigger', 'silence')}"
                    )
            if "/telemetry/" in msg.topic and not args.show_telemetry:
                return
            print(describe(msg.topic, payload), flush=True)

    platform = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="demo-platform", protocol=mqtt.MQTTv5
    )
    platform.on_message = on_message
    platform.on_connect = lambda c, *_: c.subscribe("edge/#", qos=1)
    platform.connect("127.0.0.1", broker_port)
    platform.loop_start()

    agent = start([*EDGE_AGENT, "run", "--config", str(cfg_path)], work / "agent.log")
    procs.append(agent)
    print(
        f"agent running (log: {work / 'agent.log'}); platform view below "
        f"(telemetry counted, not printed); {args.seconds:.0f} s; elevator hold times "
        f"compressed x{DEMO_SPEED}\n"
    )
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait(args.seconds)

    agent.send_signal(signal.SIGTERM)
    code = agent.wait(20)
    time.sleep(1.0)
    platform.loop_stop()
    for p in reversed(procs):
        if p.poll() is None:
            p.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(5)
    print("\nsummary (events received by type):")
    for kind, n in sorted(seen.items()):
        print(f"  {n:6d}  {kind}")
    print(f"  {snapshots:6d}  snapshot images")
    print(f"agent exit code {code}; logs in {work}")
    wanted = {
        "entrapment alarm": entrapment_alarms > 0,
        "parking violation": any(k.startswith("parking.violation") for k in seen),
        "snapshots": snapshots > 0,
        "uplink check": seen["synthetic.sample"] == 5,
        "resident SOS alarm": "SOS:button" in resident_alarms,
        "wearable fall alarm": "FALL:wearable" in resident_alarms,
        "radar fall alarm": "FALL:radar_dwell" in resident_alarms,
        "silent device alarm": "SILENT:silence" in resident_alarms,
    }
    for what, ok in wanted.items():
        print(f"  {'ok ' if ok else 'MISSING'} {what}")
    return 0 if code == 0 and all(wanted.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
