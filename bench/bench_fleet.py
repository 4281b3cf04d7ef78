"""A fleet through a broker restart (issue 19 item 5): connection-rate peak and spread.

``GATEWAYS`` agent processes (50; --quick: 20), each ``python -m agent run`` with a
synthetic driver at 2 events/s, forward to one real Mosquitto on loopback. Once all are
up, the broker is stopped for ``outage_s`` (60 s; --quick: 20 s) and started again on the
same port. A subscriber that joins as the broker comes back times, per gateway, the
retained birth message (``edge/ID/status`` "online", published right after CONNACK:
the moment that gateway reconnected) and its first ``events/`` message (the first queued
event delivered). Figures:

* ``reconnect_s``: per gateway, broker's return -> reconnected (median, p95, max = the
  spread of the fleet's return);
* ``peak_connects_per_s``: the most reconnections in any 1 s window after the return;
* ``attempts_per_s_while_down``: the fleet's connection attempts per second during the
  outage (each agent logs every failed attempt at DEBUG; counted from their logs);
* ``first_event_s``: per gateway, broker's return -> its first queued event seen
  (median and p95: the recovery figure, over the whole fleet).

``EDGE_BENCH_RECONNECT_MAX_S`` sets the agents' ``reconnect_max_s`` (default: the
agent's own default) to compare caps. A birth retained before the subscriber subscribed
is delivered on subscribing, so a gateway faster than the subscriber counts as "at once".
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from tests.broker import Mosquitto, Subscriber

REPO = Path(__file__).resolve().parent.parent
# The broker is tests/broker.py's, which queues up to 1,000,000 messages per subscriber:
# with Mosquitto's default of 1,000 the probe, flooded by 50 backlogs on a loaded machine,
# lost births and first events to "Outgoing messages are being dropped" and counted
# gateways never back.


class _Stamped(Subscriber):
    """Notes the arrival time of the first status and first event per gateway."""

    def __init__(self, port: int) -> None:
        self.birth: dict[str, float] = {}
        self.first_event: dict[str, float] = {}
        super().__init__(port, "edge/#", client_id="fleet-probe")

    def _on_message(self, c: Any, u: Any, msg: Any) -> None:
        now = time.monotonic()
        parts = msg.topic.split("/")
        if len(parts) < 3:
            return
        gw = parts[1]
        if parts[2] == "status" and b'"online"' in msg.payload:
            self.birth.setdefault(gw, now)
        elif parts[2] == "events":
            self.first_event.setdefault(gw, now)


def _config(tmp: Path, port: int, i: int) -> Path:
    mqtt: dict[str, Any] = {"host": "127.0.0.1", "port": port, "insecure": True}
    cap = os.environ.get("EDGE_BENCH_RECONNECT_MAX_S")
    if cap:
        mqtt["reconnect_max_s"] = float(cap)
    run = tmp / f"gw{i:02d}"
    run.mkdir()
    doc = {
        "gateway": {"id": f"gw-fleet-{i:02d}"},
        "mqtt": mqtt,
        "buffer": {"path": str(run / "state" / "buffer.db")},
        "log_level": "DEBUG",  # each failed attempt is one DEBUG line: counted below
        "drivers": [{"name": "synth", "kind": "synthetic", "count": 0, "rate_hz": 2.0}],
    }
    path = run / "agent.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _attempts(tmp: Path, start: datetime, end: datetime) -> int:
    count = 0
    for log in tmp.glob("gw*/agent.log"):
        for line in log.read_text(errors="replace").splitlines():
            # One line per failed attempt: "uplink to H:P is down / still down: …".
            if "uplink to " not in line or ("still down" not in line and "is down" not in line):
                continue
            try:  # the log's UTC stamp, ``2026-12-02T01:02:03.456Z``
                stamp = datetime.strptime(line[:24], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
            except ValueError:
                continue
            count += start <= stamp <= end
    return count


def _last_line(tmp: Path, gw: str) -> str:
    """What a gateway that did not come back logged last (why it did not)."""
    text = (tmp / f"gw{gw[-2:]}" / "agent.log").read_text(errors="replace")
    lines = [line for line in text.splitlines() if "agent.forwarder" in line]
    return lines[-1][:300] if lines else text[-300:]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 2),
        "p95": round(_percentile(values, 0.95), 2),
        "max": round(max(values), 2),
    }


def _peak_per_s(times: list[float]) -> int:
    ordered = sorted(times)
    return max(sum(1 for t in ordered if s <= t < s + 1.0) for s in ordered) if ordered else 0


def _start_fleet(tmp: Path, port: int, n: int) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = []
    for i in range(n):
        cfg = _config(tmp, port, i)
        with (cfg.parent / "agent.log").open("ab") as log:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "agent", "run", "--config", str(cfg)],
                    cwd=REPO,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        time.sleep(0.1)  # a fleet powered on over seconds, not one instant
    return procs


def _outage(tmp: Path, broker: Mosquitto, n: int, outage_s: float) -> dict[str, Any]:
    port = broker.port
    sub = _Stamped(port)
    try:
        if not sub.wait(lambda s: len(s.first_event) >= n, 180):
            raise RuntimeError(f"only {len(sub.first_event)} of {n} gateways forwarding")
    finally:
        sub.close()
        broker.stop()
    down_wall = datetime.now(UTC)
    time.sleep(outage_s)
    broker = Mosquitto(tmp, port=port).start()
    back, back_wall = time.monotonic(), datetime.now(UTC)
    sub = _Stamped(port)
    try:
        sub.wait(lambda s: len(s.first_event) >= n, 120)
    finally:
        sub.close()
        broker.stop()
    missing = sorted({f"gw-fleet-{i:02d}" for i in range(n)} - set(sub.birth))
    reconnect = [t - back for t in sub.birth.values()]
    first = [t - back for t in sub.first_event.values()]
    attempts = _attempts(tmp, down_wall, back_wall)
    return {
        "gateways": n,
        "outage_s": outage_s,
        "reconnected": len(reconnect),
        "not_reconnected": {gw: _last_line(tmp, gw) for gw in missing[:3]},
        "reconnect_s": _summary(reconnect),
        "peak_connects_per_s": _peak_per_s(list(sub.birth.values())),
        "attempts_per_s_while_down": round(attempts / outage_s, 1),
        "first_event_s": _summary(first),
    }


def run(quick: bool) -> dict[str, Any]:
    n, outage = (20, 20.0) if quick else (50, 60.0)
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as d:
        tmp = Path(d)
        broker = Mosquitto(tmp).start()
        procs = _start_fleet(tmp, broker.port, n)
        try:
            result = _outage(tmp, broker, n, outage)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
    result["reconnect_max_s"] = os.environ.get("EDGE_BENCH_RECONNECT_MAX_S", "default")
    result["ratio"] = round(result["first_event_s"]["median"] / 5.0, 2)  # vs the 5 s target
    return result
