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
