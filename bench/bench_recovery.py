"""Recovery after a broker outage (issue 19 item 5): broker's return -> first queued event.

One agent process (``python -m agent run``, a synthetic driver emitting 2 events/s at
``event`` priority) forwards to a real Mosquitto. Each trial stops the broker for
``outage_s`` (60 s; --quick: 15 s and 3 trials instead of 10), starts it again on the same
port, subscribes at once, and times the first ``events/`` message the subscriber sees:
the outbox sends its oldest row first, so that should be an event queued during the
outage; each trial checks it (the event's CloudEvents ``time`` lies before the broker's
return) and ``queued_during_outage`` counts the trials where it did. (Before issue 19's
fix to the synthetic driver, a 2 Hz source emitted in bursts of 64, one every 32 s: no
event was queued during a 15 s outage at all and the bench timed the next burst.) The
agent keeps its default ``reconnect_max_s`` unless ``EDGE_BENCH_RECONNECT_MAX_S`` is set
(to compare caps). No alarm is waiting, so this is the backoff alone, not the alarm skip.
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


def _config(tmp: Path, port: int) -> Path:
    mqtt: dict[str, Any] = {"host": "127.0.0.1", "port": port, "insecure": True}
    cap = os.environ.get("EDGE_BENCH_RECONNECT_MAX_S")
    if cap:
        mqtt["reconnect_max_s"] = float(cap)
    doc = {
        "gateway": {"id": "gw-recovery"},
        "mqtt": mqtt,
        "buffer": {"path": str(tmp / "state" / "buffer.db")},
        "drivers": [{"name": "synth", "kind": "synthetic", "count": 0, "rate_hz": 2.0}],
    }
    path = tmp / "agent.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _trial(tmp: Path, port: int, outage_s: float) -> tuple[float, bool]:
    """Seconds from the broker's return to the first event seen; whether that event
    was queued during the outage."""
    broker = Mosquitto(tmp, port=port).start()
    sub = Subscriber(port, "edge/#", client_id="recovery-probe")
    try:
        # Connected and forwarding before the outage starts.
        if not sub.wait(lambda s: any("/events/" in t for t, _p, _r in s.messages), 60):
            raise RuntimeError("agent not forwarding before the outage")
    finally:
        sub.close()
        broker.stop()
    time.sleep(outage_s)
    broker = Mosquitto(tmp, port=port).start()  # start() returns once it listens
    back, back_wall = time.monotonic(), datetime.now(UTC)
    sub = Subscriber(port, "edge/+/events/#", client_id="recovery-probe")
    try:
        if not sub.wait(lambda s: bool(s.messages), 120):
            raise RuntimeError("no event within 120 s of the broker's return")
        wait = time.monotonic() - back
        first = sub.events()[0]
        return wait, datetime.fromisoformat(first["time"]) < back_wall
    finally:
        sub.close()
        broker.stop()


def run(quick: bool) -> dict[str, Any]:
    trials, outage = (3, 15.0) if quick else (10, 60.0)
    waits: list[float] = []
    queued = 0
    with tempfile.TemporaryDirectory(prefix="bench-recovery-") as d:
        tmp = Path(d)
        port = Mosquitto(tmp).port
        cfg = _config(tmp, port)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        with (tmp / "agent.log").open("ab") as log:
            agent = subprocess.Popen(
                [sys.executable, "-m", "agent", "run", "--config", str(cfg)],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            for _ in range(trials):
                wait, was_queued = _trial(tmp, port, outage)
                waits.append(wait)
                queued += was_queued
        finally:
            agent.terminate()
            agent.wait(15)
    ordered = sorted(waits)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "trials": trials,
        "outage_s": outage,
        "reconnect_max_s": os.environ.get("EDGE_BENCH_RECONNECT_MAX_S", "default"),
        "first_event_after_return_s": [round(w, 2) for w in waits],
        "queued_during_outage": f"{queued}/{trials}",
        "median_s": round(statistics.median(waits), 2),
        "p95_s": round(p95, 2),
        "max_s": round(max(waits), 2),
        "ratio": round(statistics.median(waits) / 5.0, 2),  # against the 5 s target
    }
