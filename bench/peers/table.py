"""The peer benchmark's result as a Markdown table, for docs/benchmarks.md and
bench/RESULTS.md: ``python -m bench.peers.table [RESULT.json]`` (default: the last run's
``result.json`` in the bench's work dir), so the published table is the run's, copied by
no hand.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.peers import venvs

ROWS = [
    ("cpu_s_per_1000_points", "CPU s per 1,000 register points read"),
    ("requests_per_unit_per_poll", "Modbus requests per unit per poll cycle"),
    ("steady_rss_mb", "RSS, steady (MB)"),
    ("latency_median_s", "register change → subscriber, median (s)"),
    ("latency_p95_s", "… p95 (s)"),
    ("startup_s", "start-up to first data publish (s)"),
    ("outage_changes_delivered", "broker stopped: the outage's changes delivered afterwards"),
    ("outage_first_data_after_back_s", "… first data after the broker is back (s)"),
    ("silent_healthy_changes", "one unit silent: healthy units' changes delivered"),
    ("silent_log_lines_per_poll", "… log lines per poll"),
    ("backlog_queued", "backlog queued (points, or ThingsBoard poll entries)"),
    ("drain_points_per_s_before_kill", "backlog drain, points/s (until the SIGKILL)"),
    ("sigkill_lost", "SIGKILL mid-drain: lost"),
    ("sigkill_duplicates", "… duplicated"),
    ("config_lines", "config lines for the same setup"),
]


def _cell(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def render(result: dict[str, Any]) -> str:
    names = result.get("order") or sorted(result["gateways"])
    gws = [result["gateways"][n] for n in names]
    versions = result["environment"]["versions"]
    head = " | ".join(f"{g['label']} {versions[n]}" for n, g in zip(names, gws, strict=True))
    lines = [f"| figure | {head} |", "|---" * (len(names) + 1) + "|"]
    for key, label in ROWS:
        cells = [_cell(g.get(key, "n/a" if g.get("buffer") is None else None)) for g in gws]
        lines.append(f"| {label} | {' | '.join(cells)} |")
    errors = [f"{n}: {g['error']}" for n, g in zip(names, gws, strict=True) if "error" in g]
    if errors:
        lines += ["", *(f"- error: {e}" for e in errors)]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else venvs.work_dir() / "result.json"
    print(render(json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
