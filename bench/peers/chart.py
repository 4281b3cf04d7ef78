"""The peer benchmark's bar chart: ``python chart.py RESULT.json OUT.png``.

Run by the bench in its own throwaway venv with matplotlib (bench/peers/venvs.py), never
in the project's: this file imports nothing of the project. One small panel per figure,
a bar per gateway, the value written on each bar; "lower is better" or "higher is
better" under each panel's title, because the panels point both ways.
"""

from __future__ import annotations

import json
import sys
from typing import Any

PANELS = [
    ("cpu_s_per_1000_points", "CPU s per 1,000 points", "lower"),
    ("requests_per_unit_per_poll", "Modbus requests / unit / poll", "lower"),
    ("steady_rss_mb", "steady RSS, MB", "lower"),
    ("latency_median_s", "change -> subscriber, median s", "lower"),
    ("startup_s", "start-up to first data, s", "lower"),
    ("outage_first_data_after_back_s", "first data after broker back, s", "lower"),
    ("outage_delivered_fraction", "outage's changes delivered", "higher"),
    ("silent_healthy_delivered", "one unit silent: healthy delivered", "higher"),
    ("config_lines", "config lines", "lower"),
]
COLOURS = ["#2b7bba", "#e5803b", "#5aa05a"]


def _value(row: dict[str, Any], key: str) -> float:
    value = row.get(key)
    return float(value) if isinstance(value, int | float) else 0.0


def main(argv: list[str]) -> int:
    import matplotlib  # type: ignore[import-not-found]

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # type: ignore[import-not-found]

    with open(argv[1]) as f:
        result = json.load(f)
    names = result.get("order") or sorted(result["gateways"])
    rows = [result["gateways"][n] for n in names]
    fig, axes = plt.subplots(3, 3, figsize=(12, 9))
    for ax, (key, title, better) in zip(axes.flat, PANELS, strict=True):
        values = [_value(r, key) for r in rows]
        bars = ax.bar(range(len(names)), values, color=COLOURS[: len(names)])
        ax.set_title(f"{title}\n({better} is better)", fontsize=9)
        ax.set_xticks(
            range(len(names)), [r["label"].replace(" IoT", "\nIoT") for r in rows], fontsize=8
        )
        for bar, row in zip(bars, rows, strict=True):
            shown = row.get(key)
            text = "n/a" if shown is None else f"{shown:g}"
            ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=8)  # fmt: skip
        ax.margins(y=0.2)
    fig.suptitle(result["title"], fontsize=10)
    fig.tight_layout()
    fig.savefig(argv[2], dpi=90)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
