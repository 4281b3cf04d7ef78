"""``python bench/run.py peers``: edge-agent beside peer gateways (see bench/peers/runner.py)."""

from __future__ import annotations

from typing import Any

from bench.peers import runner


def run(quick: bool) -> dict[str, Any]:
    return runner.run(quick)
