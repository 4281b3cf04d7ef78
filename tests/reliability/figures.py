"""Where the reliability tests put the figures docs/reliability.md reports.

Each test calls :func:`record` with what it injected and what arrived. When the
environment names a file in ``RELIABILITY_FIGURES`` the figures are appended there as
JSON lines (that is how the table in docs/reliability.md was made); they are always
printed too, so ``pytest -s`` shows them.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any


def record(test: str, **figures: Any) -> None:
    line = json.dumps({"test": test, **figures}, sort_keys=True)
    print(f"reliability figures: {line}")
    path = os.environ.get("RELIABILITY_FIGURES")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


_LAG = re.compile(r"event loop lag: max (\d+) ms over (\d+) samples, (\d+) stalls")


def loop_lag(agent_log: str) -> dict[str, int]:
    """The agent's own loop-lag summary (agent/looplag.py), logged at shutdown."""
    found = _LAG.findall(agent_log)
    if not found:
        raise AssertionError("the agent logged no event-loop lag summary")
    max_ms, samples, stalls = (int(x) for x in found[-1])
    return {"loop_lag_max_ms": max_ms, "loop_lag_samples": samples, "loop_stalls": stalls}


_ATTEMPTS = re.compile(
    r"publish attempts: (\d+) started, (\d+) acknowledged, (\d+) ended at their deadline, "
    r"(\d+) ended with their connection, (-?\d+) open; latest end (\d+) ms after a deadline "
    r"of ([\d.]+) s; peak (\d+) on the wire, (\d+) held"
)
_ATTEMPT_KEYS = (
    "attempts_started",
    "attempts_acknowledged",
    "attempts_expired",
    "attempts_ended_with_connection",
    "attempts_open",
    "attempt_late_max_ms",
)


def publish_attempts(agent_log: str) -> dict[str, float]:
    """The forwarder's ledger of publish attempts (agent/publish_deadline.py), logged at
    shutdown: how each attempt ended, how late after its deadline, the peaks held."""
    found = _ATTEMPTS.findall(agent_log)
    if not found:
        raise AssertionError("the agent logged no publish-attempt summary")
    *counts, deadline_s, wire_peak, held_peak = found[-1]
    out: dict[str, float] = {k: int(v) for k, v in zip(_ATTEMPT_KEYS, counts, strict=True)}
    out.update(
        attempt_deadline_s=float(deadline_s), wire_peak=int(wire_peak), held_peak=int(held_peak)
    )
    return out


def rss_kib(pid: int) -> int:
    """Resident set size of process ``pid`` (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")
