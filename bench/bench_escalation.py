"""Alarm-to-SMS latency with the uplink down (issue 13): alarm created -> AT+CMGS done.

One agent process (``python -m agent run``) with no broker at all, the modem simulator
(``edge-agent simulate modem``) on a pty in its own process, and a synthetic SOS alarm
(``synthetic.alarm``) every 5 s (20 alarms; --quick: 6). Receipts are configured with
``escalate_after_s`` T = 2 s and no per-number rate limit, so each alarm is texted once,
alone on the modem.
For each alarm: its CloudEvents ``time`` (when the driver made it, as a decoded frame or
a register change would) against the simulator's log time of the SMS's last part (the
modem took it; ``+CMGS`` follows at once in the ``normal`` scenario). Reported: total
latency p50/p99, and the same minus T (what the escalation path itself costs: the
escalator's 0.5 s tick, the AT conversation, two SQLite commits).
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from tests.broker import free_port

REPO = Path(__file__).resolve().parent.parent
T_S = 2.0
PERIOD_S = 5.0


def _config(tmp: Path, port: int, link: Path, count: int) -> Path:
    doc: dict[str, Any] = {
        "gateway": {"id": "gw-bench", "site": "bench"},
        "mqtt": {"host": "127.0.0.1", "port": port, "insecure": True},
        "buffer": {"path": str(tmp / "buffer.db")},
        "drivers": [{"name": "sos-1", "kind": "synthetic", "count": count,
                     "rate_hz": 1 / PERIOD_S, "batch": 1, "priority": "alarm",
                     "event_type": "synthetic.alarm", "key": "SOS", "severity": "critical"}],
        "receipts": {
            "classes": [{"type": "synthetic.alarm"}], "reannounce_s": 3600,
            "escalate_after_s": T_S,
            "escalation": {"sms": {"port": str(link), "numbers": ["+8613800138000"],
                                   "per_number_interval_s": 0}},
        },
    }  # fmt: skip
    path = tmp / "agent.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    return path


def _alarm_times(db: Path) -> list[float]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT payload FROM awaiting ORDER BY created").fetchall()
    finally:
        conn.close()
    return [datetime.fromisoformat(json.loads(r[0])["time"]).timestamp() for r in rows]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(quick: bool) -> dict[str, Any]:
    count = 6 if quick else 20
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        link, log = tmp / "modem", tmp / "sms.jsonl"
        sim = subprocess.Popen(
            [sys.executable, "-m", "agent", "simulate", "modem", "--link", str(link),
             "--log", str(log)], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        while not link.exists():
            time.sleep(0.05)
        agent = subprocess.Popen(
            [sys.executable, "-m", "agent", "run", "--config",
             str(_config(tmp, free_port(), link, count))],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + count * PERIOD_S + 60
            sent: list[dict[str, Any]] = []
            while time.monotonic() < deadline and len(sent) < count:
                time.sleep(0.5)
                if log.exists():
                    sent = [json.loads(x) for x in log.read_text().splitlines() if x]
            alarms = _alarm_times(tmp / "buffer.db")
        finally:
            agent.terminate()
            agent.wait(20)
            sim.terminate()
            sim.wait(10)
    latencies = [s["t"] - a for s, a in zip(sent, alarms, strict=False)]
    if not latencies:
        return {"error": "no SMS arrived", "alarms": len(alarms)}
    return {
        "alarms": len(alarms),
        "sms": len(sent),
        "escalate_after_s": T_S,
        "alarm_to_sms_p50_s": round(_pct(latencies, 0.5), 3),
        "alarm_to_sms_p99_s": round(_pct(latencies, 0.99), 3),
        "after_timeout_p50_s": round(_pct(latencies, 0.5) - T_S, 3),
        "after_timeout_p99_s": round(_pct(latencies, 0.99) - T_S, 3),
        "max_s": round(max(latencies), 3),
        "mean_s": round(statistics.fmean(latencies), 3),
    }
