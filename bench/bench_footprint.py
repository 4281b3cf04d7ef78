"""Footprint of a Modbus + synthetic gateway (issue 19 items 1, 2 and 4).

Figures, all from one run on this machine:

* ``import_rss_mb``: RSS added by importing each module group in a fresh interpreter
  (``python`` alone is the baseline; ``sqlite_utils_no_numpy`` imports sqlite-utils with
  numpy blocked, to show what numpy costs it).
* ``steady_rss_mb``: the agent's RSS after ``duration_s`` running 10 ``gb-monitor-box``
  units on one loopback Modbus TCP server (``edge-agent simulate elevator``, its own
  process) and a synthetic driver, forwarding to a real Mosquitto; ``peak_rss_mb`` its
  high-water mark.
* ``backlog_rss_mb``: the same agent started on an outbox holding 100,000 events (20,000
  with --quick; ``EDGE_BENCH_BACKLOG=1000000`` for the issue's million), RSS once the
  subscriber has seen them all; ``backlog_rss_by_delivered_mb`` the RSS when a quarter,
  half, three quarters and all of them had arrived (bounded RSS: it stays flat).
* ``startup_s``: process start to the first PUBLISH a subscriber sees, beside
  ``bare_paho_startup_s`` for a process that imports paho, connects and publishes one
  QoS 1 message; ``startup_ratio`` is the quotient (target <= 2.5).
* ``cpu_s_per_1000_points``: the agent's user+system CPU over the steady window per
  1,000 register points read (points x units x polls from the profile's poll groups).
* ``configurations``: start-up, steady RSS and CPU share of a Modbus + serial and a
  Modbus + camera gateway (bench/footprint_configs.py); reported, not held to the targets.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench import footprint_configs as fc
from tests.broker import Mosquitto, Subscriber, free_port, wait_port
from tests.shared_data import model_path

REPO = Path(__file__).resolve().parent.parent
UNITS = 10
# Room for a 1,000,000-event backlog (~270 bytes a payload) without shedding: the default
# 256 MiB, 70 % of it for events, holds about 660,000 of them.
BACKLOG_MAX_BYTES = 1024 * 1024 * 1024
PROFILE = "gb-monitor-box"

_GROUPS = {
    "python": "",
    "asyncio": "import asyncio",
    "pydantic": "import pydantic",
    "paho+aiomqtt": "import aiomqtt",
    "pymodbus": "import pymodbus.client",
    "yaml+orjson": "import yaml, orjson",
    "sqlite_utils": "import sqlite_utils",
    "sqlite_utils_no_numpy": "import sys; sys.modules['numpy'] = None; import sqlite_utils",
    "numpy": "import numpy",
    "cv2": "import cv2",
    "onnxruntime": "import onnxruntime",
    "agent.app+cli": "import agent.app, agent.cli; agent.cli.build_parser()",
}

_RSS = (
    "def rss():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmRSS'): return int(line.split()[1]) / 1024\n"
)


# Bytecode as an installed package has it (pip compiles at install; paho's is in the
# venv): with PYTHONDONTWRITEBYTECODE set, as on the project's CI machine, every start of
# the agent compiled its ~80 modules from source (~0.13 s) while bare paho did not.
_PYCACHE = Path(tempfile.gettempdir()) / "edge-agent-bench-pycache"


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(_PYCACHE)
    return env


def _compile_tree() -> None:
    dirs = [str(REPO / d) for d in ("agent", "drivers", "buffer", "vision")]
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", *dirs], env=_env(), check=True, cwd=REPO
    )


def _import_rss() -> dict[str, float]:
    out: dict[str, float] = {}
    for name, stmt in _GROUPS.items():
        code = f"{_RSS}a = rss()\n{stmt}\nprint(rss() - a if {bool(stmt)} else a)"
        res = subprocess.run(
            [sys.executable, "-c", code], env=_env(), capture_output=True, text=True, check=True
        )
        out[name] = round(float(res.stdout.strip()), 1)
    return out


def _points_per_s() -> float:
    from drivers.modbus.profile import load_profile

    profile = load_profile(PROFILE)
    return UNITS * sum(
        len(profile.points_in(name)) * 1000 / group.period_ms
        for name, group in profile.poll_groups.items()
    )


def _config(
    tmp: Path,
    broker: int,
    modbus: int | None,
    synth_count: int,
    extra: list[dict[str, Any]] | None = None,
    max_bytes: int | None = None,
) -> Path:
    drivers: list[dict[str, Any]] = [
        {"name": "synth", "kind": "synthetic", "count": synth_count, "rate_hz": 10.0},
        *(extra or []),
    ]
    if modbus is not None:
        devices = [
            {"id": f"lift-{u}", "unit_id": u, "profile": PROFILE} for u in range(1, UNITS + 1)
        ]
        drivers.insert(
            0,
            {
                "name": "lifts",
                "kind": "modbus",
                "host": "127.0.0.1",
                "port": modbus,
                "devices": devices,
            },
        )
    doc = {
        "gateway": {"id": "gw-bench"},
        "mqtt": {"host": "127.0.0.1", "port": broker, "insecure": True},
        "buffer": {"path": str(tmp / "state" / "buffer.db")}
        | ({} if max_bytes is None else {"max_bytes": max_bytes}),
        "drivers": drivers,
    }
    path = tmp / "agent.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


class _TimedSubscriber(Subscriber):
    """Also notes when each message arrived: ``Subscriber.wait`` polls every 0.1 s,
    which quantised start-up times (bare paho's 0.10 s was a poll tick)."""

    def __init__(self, port: int, topic: str) -> None:
        self.arrivals: list[float] = []
        super().__init__(port, topic)

    def _on_message(self, c: Any, u: Any, msg: Any) -> None:
        with self._lock:
            self.arrivals.append(time.monotonic())
        super()._on_message(c, u, msg)


def _first_publish(
    sub: _TimedSubscriber, argv: list[str], log: Path
) -> tuple[subprocess.Popen[bytes], float]:
    before = len(sub.arrivals)
    start = time.monotonic()
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, cwd=REPO, env=_env(), stdout=out, stderr=subprocess.STDOUT)
    deadline = start + 60
    while len(sub.arrivals) <= before:
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"no publish from {argv}; see {log}")
        time.sleep(0.002)
    return proc, sub.arrivals[before] - start


_BARE = (
    "import sys, paho.mqtt.client as m\n"
    "from paho.mqtt.enums import CallbackAPIVersion as V\n"
    "c = m.Client(V.VERSION2, client_id='bare', protocol=m.MQTTv5)\n"
    "c.connect('127.0.0.1', int(sys.argv[1])); c.loop_start()\n"
    "c.publish('edge/bare/x', b'x', qos=1).wait_for_publish(10)\n"
    "c.loop_stop(); c.disconnect()\n"
)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _startup(
    sub: _TimedSubscriber, tmp: Path, broker: int, modbus: int, rounds: int
) -> dict[str, Any]:
    agent_s, bare_s = [], []
    for i in range(rounds):
        proc, t = _first_publish(sub, [sys.executable, "-c", _BARE, str(broker)], tmp / "bare.log")
        proc.wait(15)
        bare_s.append(t)
        run = tmp / f"start{i}"
        run.mkdir()
        cfg = _config(run, broker, modbus, synth_count=0)
        argv = [sys.executable, "-m", "agent", "run", "--config", str(cfg)]
        proc, t = _first_publish(sub, argv, run / "agent.log")
        _stop(proc)
        agent_s.append(t)
    agent, bare = statistics.median(agent_s), statistics.median(bare_s)
    return {
        "startup_s": round(agent, 3),
        "bare_paho_startup_s": round(bare, 3),
        "startup_ratio": round(agent / bare, 2),
    }


def _steady(
    sub: _TimedSubscriber, tmp: Path, broker: int, modbus: int, duration: float
) -> dict[str, Any]:
    run = tmp / "steady"
    run.mkdir()
    cfg = _config(run, broker, modbus, synth_count=0)
    argv = [sys.executable, "-m", "agent", "run", "--config", str(cfg)]
    proc, _ = _first_publish(sub, argv, run / "agent.log")
    try:
        rss, peak, cpu, elapsed = fc.steady_window(proc.pid, duration)
    finally:
        _stop(proc)
    points = _points_per_s() * elapsed
    return {
        "duration_s": round(elapsed, 1),
        "steady_rss_mb": round(rss, 1),
        "peak_rss_mb": round(peak, 1),
        "cpu_s_per_1000_points": round(cpu / points * 1000, 4),
        "points_read": int(points),
    }


async def _fill(path: Path, count: int) -> None:
    from agent.events import Event, Priority
    from buffer.config import BufferConfig
    from buffer.outbox import Outbox

    config = BufferConfig(path=path, max_bytes=BACKLOG_MAX_BYTES)
    box = Outbox(config, source="/edge/gw-bench/buffer")
    await box.open()
    try:
        for start in range(0, count, 1000):
            await box.append(
                [
                    Event(
                        source="/edge/gw-bench/synth",
                        type="bench.backlog",
                        subject="backlog",
                        priority=Priority.EVENT,
                        data={"n": n},
                    )
                    for n in range(start, min(count, start + 1000))
                ]
            )
    finally:
        await box.close()


class _CountingSubscriber(Subscriber):
    """Counts the distinct backlog events it receives without keeping them: a
    1,000,000-event drain kept in memory would cost the bench ~0.5 GB and a set rebuilt
    on every poll."""

    def __init__(self, port: int, topic: str) -> None:
        self.distinct: set[int] = set()
        super().__init__(port, topic, client_id="platform-drain")

    def _on_message(self, c: Any, u: Any, msg: Any) -> None:
        if b"bench.backlog" in msg.payload:
            with self._lock:
                self.distinct.add(hash(bytes(msg.payload)))


def _backlog(sub: _TimedSubscriber, tmp: Path, broker: int, count: int) -> dict[str, Any]:
    """Drain ``count`` queued events; a second subscriber counts distinct events, the
    agent's RSS is sampled every 0.5 s of the drain (bounded: it must not follow the
    backlog), and the outbox is read afterwards (rows left, dead letters): a shortfall at
    the subscriber with an empty outbox is the broker dropping, not the agent losing."""
    run = tmp / "backlog"
    (run / "state").mkdir(parents=True)
    db = run / "state" / "buffer.db"
    t_fill = time.monotonic()
    asyncio.run(_fill(db, count))
    fill_s = time.monotonic() - t_fill
    cfg = _config(run, broker, None, synth_count=0, max_bytes=BACKLOG_MAX_BYTES)
    counter = _CountingSubscriber(broker, "edge/#")
    start = time.monotonic()
    argv = [sys.executable, "-m", "agent", "run", "--config", str(cfg)]
    proc, _ = _first_publish(sub, argv, run / "agent.log")
    quarters: dict[str, float] = {}
    deadline = start + max(120.0, count / 500)  # reported, not raised: how far it got
    try:
        while time.monotonic() < deadline:
            delivered = len(counter.distinct)
            rss, peak = fc.proc_rss(proc.pid)
            for q in (25, 50, 75, 100):
                if delivered >= count * q / 100:
                    quarters.setdefault(f"{q}%", round(rss, 1))
            if delivered >= count:
                break
            time.sleep(0.5)
        drained = time.monotonic() - start
    finally:
        _stop(proc)
        counter.close()
    with sqlite3.connect(db) as conn:
        left = dict(conn.execute("SELECT state, count(*) FROM outbox GROUP BY state"))
    return {
        "backlog_events": count,
        "backlog_fill_s": round(fill_s, 1),
        "backlog_delivered": len(counter.distinct),
        "backlog_rows_left_in_outbox": json.dumps(left),  # by state; {} = all acknowledged
        "backlog_rss_mb": round(rss, 1),
        "backlog_peak_rss_mb": round(peak, 1),
        "backlog_rss_by_delivered_mb": json.dumps(quarters),
        "backlog_drain_s": round(drained, 1),
    }


def _other_configs(
    sub: _TimedSubscriber, tmp: Path, broker: int, modbus: int, quick: bool
) -> dict[str, Any]:
    """Modbus + serial and Modbus + camera (bench/footprint_configs.py), reported only."""

    def start(argv: list[str], log: Path) -> tuple[subprocess.Popen[bytes], float]:
        return _first_publish(sub, argv, log)

    window, rounds = 15.0 if quick else 60.0, 3
    out: dict[str, Any] = {}
    link = tmp / "wearables"
    sim = fc.start_wearables(REPO, _env(), link)
    try:
        extra = fc.serial_drivers(link)
        out["modbus_serial"] = fc.measure(
            tmp, "serial", lambda d: _config(d, broker, modbus, 0, extra), start, _stop,
            rounds=rounds, window_s=window,
        )  # fmt: skip
    finally:
        _stop(sim)
    clip = fc.make_clip(REPO, _env(), tmp / "demo.avi")
    cams = fc.camera_drivers(clip, model_path())
    out["modbus_camera"] = fc.measure(
        tmp, "camera", lambda d: _config(d, broker, modbus, 0, cams), start, _stop,
        rounds=rounds, window_s=window,
    )  # fmt: skip
    return out


def run(quick: bool) -> dict[str, Any]:
    _compile_tree()
    result: dict[str, Any] = {"import_rss_mb": _import_rss()}
    with tempfile.TemporaryDirectory(prefix="bench-footprint-") as d:
        tmp = Path(d)
        # tests/broker.py queues up to 1,000,000 messages per subscriber: with Mosquitto's
        # default (1,000 queued QoS 1 messages per client) a Python subscriber falling
        # behind a 20,000-event drain had messages dropped by the broker ("Outgoing
        # messages are being dropped for client platform"), which this bench once
        # reported as 18,373 of 20,000 delivered while the outbox was empty.
        broker = Mosquitto(tmp).start()
        sub = _TimedSubscriber(broker.port, "edge/#")
        modbus = free_port()
        units = [f"--unit={u}=normal" for u in range(1, UNITS + 1)]
        sim = subprocess.Popen(
            [sys.executable, "-m", "agent", "simulate", "elevator", "--profile", PROFILE,
             "--host", "127.0.0.1", "--port", str(modbus), "--speed", "1", *units],
            cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_port(modbus, timeout=30)
            result.update(_startup(sub, tmp, broker.port, modbus, rounds=3 if quick else 5))
            result.update(_steady(sub, tmp, broker.port, modbus, 15.0 if quick else 60.0))
            backlog = int(os.environ.get("EDGE_BENCH_BACKLOG", 20_000 if quick else 100_000))
            result.update(_backlog(sub, tmp, broker.port, backlog))
            result["configurations"] = _other_configs(sub, tmp, broker.port, modbus, quick)
        finally:
            _stop(sim)
            sub.close()
            broker.stop()
    result["ratio"] = result["startup_ratio"]
    result["targets"] = json.dumps({"steady_rss_mb": "<= 40", "startup_ratio": "<= 2.5"})
    return result
