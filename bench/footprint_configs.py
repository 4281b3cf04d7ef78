"""The footprint of the other two configurations issue 19 item 4 asks for: Modbus + serial
and a camera gateway, beside the Modbus + synthetic one bench_footprint.py measures in full.

Each configuration gets the same two figures, measured the same way: process start to the
first PUBLISH a subscriber sees (median of rounds) and the steady RSS (and its high-water
mark) and CPU share over a window after start-up. The targets of the issue (<= 40 MB,
<= 2.5x bare paho) are for the Modbus + synthetic gateway; these are reported, not judged:

* ``modbus_serial``: the 10 Modbus units plus three bracelets on a pseudo-terminal
  (``edge-agent simulate wearable``, its own process, one frame stream per bracelet), so
  pyserial and the serial kind's codecs and rules are loaded and working.
* ``camera``: the same Modbus units plus one camera fed from the README demo clip
  (examples/make_demo_clip.py, built from the shared photos) with the real detector, so
  numpy, OpenCV and onnxruntime are mapped and a session is running: what a camera costs a
  gateway that already watches lifts.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.shared_data import shared_path

_BRACELETS = 3

Starter = Callable[[list[str], Path], tuple[subprocess.Popen[bytes], float]]
Stopper = Callable[[subprocess.Popen[bytes]], None]


def serial_drivers(link: Path) -> list[dict[str, Any]]:
    """The serial driver entry for the bracelet pty at ``link``."""
    devices = [
        {"id": f"band-{n}", "resident": f"r-{n:04d}", "frame_id": f"{n:08x}"}
        for n in range(1, _BRACELETS + 1)
    ]
    return [{"name": "bracelets", "kind": "serial", "port": str(link), "codec": "bracelet",
             "devices": devices}]  # fmt: skip


def camera_drivers(clip: Path, model: Path) -> list[dict[str, Any]]:
    """The camera entry of examples/camera-demo.yaml, on ``clip`` with ``model`` (the
    example's sha256 stays: the same model file, checked at load as in production)."""
    demo = Path(__file__).resolve().parent.parent / "examples" / "camera-demo.yaml"
    doc = yaml.safe_load(demo.read_text())
    cams: list[dict[str, Any]] = doc["drivers"]
    for cam in cams:
        cam["source"] = str(clip)
        cam["model"]["path"] = str(model)
    return cams


def start_wearables(repo: Path, env: dict[str, str], link: Path) -> subprocess.Popen[bytes]:
    """``edge-agent simulate wearable`` on a pty linked at ``link``; waits for the link."""
    cmd = [sys.executable, "-m", "agent", "simulate", "wearable", "--link", str(link),
           "--devices", str(_BRACELETS), "--duration", "86400"]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while not link.exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError(f"the wearable simulator made no pty at {link}")
        time.sleep(0.02)
    return proc


def make_clip(repo: Path, env: dict[str, str], out: Path) -> Path:
    """The README demo clip, built from the shared photos."""
    subprocess.run(
        [sys.executable, "examples/make_demo_clip.py", "--shared", str(shared_path()),
         "--out", str(out)],
        cwd=repo, env=env, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return out


def proc_rss(pid: int) -> tuple[float, float]:
    """VmRSS and its high-water mark VmHWM of ``pid``, in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far."""
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


def steady_window(pid: int, window_s: float) -> tuple[float, float, float, float]:
    """RSS, its peak, CPU seconds and the elapsed time over ``window_s``, after 5 s to get
    past start-up (the CPU window covers steady work only)."""
    time.sleep(5.0)
    cpu0, t0 = cpu_s(pid), time.monotonic()
    time.sleep(window_s)
    cpu, elapsed = cpu_s(pid) - cpu0, time.monotonic() - t0
    rss, peak = proc_rss(pid)
    return rss, peak, cpu, elapsed


def measure(
    tmp: Path,
    name: str,
    write_config: Callable[[Path], Path],
    start: Starter,
    stop: Stopper,
    *,
    rounds: int,
    window_s: float,
) -> dict[str, Any]:
    """Start-up (median of ``rounds``) and steady RSS / CPU over ``window_s`` for one
    configuration; ``write_config(run_dir)`` writes its agent.yaml and returns the path."""
    times: list[float] = []
    for i in range(rounds + 1):
        run_dir = tmp / f"{name}{i}"
        (run_dir / "state").mkdir(parents=True)
        run = write_config(run_dir)
        argv = [sys.executable, "-m", "agent", "run", "--config", str(run)]
        proc, t = start(argv, run.parent / "agent.log")
        if i < rounds:
            stop(proc)
            times.append(t)
            continue
        try:  # the last start stays up for the steady window
            rss, peak, cpu, elapsed = steady_window(proc.pid, window_s)
        finally:
            stop(proc)
    return {
        "startup_s": round(statistics.median(times), 3),
        "steady_rss_mb": round(rss, 1),
        "peak_rss_mb": round(peak, 1),
        "cpu_percent": round(cpu / elapsed * 100, 1),
        "window_s": round(elapsed, 1),
    }
