"""``edge-agent simulate wearable``: bracelet and radar frames on a pty, for tests, demos
and installer training (drivers/serial/simulator; scenarios in docs/serial.md)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from agent.commands.common import EXIT_OK


def register(simulate_sub: Any) -> None:
    """Adds ``simulate wearable`` (called by agent.commands.simulate)."""
    from drivers.serial.simulator.scenarios import SCENARIOS

    p = simulate_sub.add_parser("wearable", help="write wearable/radar frames to a pty or port")
    p.add_argument("--link", help="also create this symlink to the pty (a stable path)")
    p.add_argument("--devices", type=int, default=1, help="bracelets 1..N (DEV_ID = N)")
    p.add_argument("--scenario", action="append", default=[], choices=SCENARIOS,
                   help="per device, in order (default normal); repeatable")  # fmt: skip
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per second")
    p.add_argument("--duration", type=float, default=3600.0, help="simulated seconds")
    p.set_defaults(handler=simulate_command)
    from agent.commands.modem import register_simulator

    register_simulator(simulate_sub)  # the modem for SMS escalation shares the serial kind


async def _simulate(args: argparse.Namespace) -> int:
    from drivers.serial.simulator.runner import Runner, open_pty, remove_link
    from drivers.serial.simulator.scenarios import build

    link = Path(args.link) if args.link else None
    master, slave, path = open_pty(link)
    print(path, flush=True)
    scenarios = args.scenario or ["normal"]
    steps = []
    for n in range(1, args.devices + 1):
        steps += build(scenarios[min(n - 1, len(scenarios) - 1)], n, args.duration)
    runner = Runner(master, steps, speed=args.speed, duration=args.duration)
    try:
        await runner.run()
    finally:
        remove_link(link, slave)
    print(f"sent {runner.sent} frames ({runner.retried} retries)", file=sys.stderr)
    return EXIT_OK


def simulate_command(args: argparse.Namespace) -> int:
    return asyncio.run(_simulate(args))
