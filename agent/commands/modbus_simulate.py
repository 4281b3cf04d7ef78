"""``edge-agent simulate elevator``: simulated elevators over Modbus TCP or RTU.

For tests, demos and installer training; the kinds table (agent/kinds.py) names this
module as the ``modbus`` kind's simulator. pymodbus is imported inside the handler only.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from typing import Any

from agent.commands.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE


def register(simulate_sub: Any) -> None:
    """Add ``elevator`` to the ``simulate`` group (agent/commands/simulate.py)."""
    p = simulate_sub.add_parser(
        "elevator", help="serve simulated elevators over Modbus TCP or RTU (for tests, demos)"
    )
    p.add_argument("--profile", default="gb-monitor-box", help="shipped profile or YAML path")
    p.add_argument(
        "--unit", action="append", default=[], metavar="ID=SCENARIO",
        help="a unit id and its scenario, repeatable (default 1=normal)",
    )  # fmt: skip
    where = p.add_mutually_exclusive_group()
    where.add_argument("--host", default="127.0.0.1", help="TCP bind address")
    where.add_argument("--serial", metavar="PORT", help="serve RTU on this serial port")
    where.add_argument("--pty", action="store_true", help="serve RTU on a new pseudo-terminal")
    p.add_argument("--port", type=int, default=5020, help="TCP port (0 = any free port)")
    p.add_argument("--baudrate", type=int, default=9600)
    p.add_argument("--speed", type=float, default=1.0, help="time compression factor")
    p.add_argument("--seed", type=int, default=1, help="traffic pattern seed")
    p.add_argument(
        "--lead", type=float, default=None, metavar="S",
        help="simulated seconds of normal traffic before each scenario starts "
        "(default: the scenario's own, 10 s), time to start the agent first",
    )  # fmt: skip
    p.add_argument("--duration", type=float, default=0.0, help="stop after N s (0 = never)")
    p.add_argument("--list-scenarios", action="store_true", help="list scenarios and exit")
    p.set_defaults(handler=simulate_elevator_command)


def _units(specs: list[str]) -> list[tuple[int, str]] | str:
    from drivers.modbus.simulator.scenarios import SCENARIOS

    out: list[tuple[int, str]] = []
    for spec in specs or ["1=normal"]:
        unit, _, scenario = spec.partition("=")
        if not unit.isdigit() or not 1 <= int(unit) <= 247:
            return f"bad --unit {spec!r}: expected ID=SCENARIO with ID 1..247"
        if scenario not in SCENARIOS:
            return f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}"
        out.append((int(unit), scenario))
    return out


def _with_lead(scenario: Any, lead_s: float | None) -> Any:
    return scenario if lead_s is None else dataclasses.replace(scenario, lead_s=lead_s)


def simulate_elevator_command(args: argparse.Namespace) -> int:
    from drivers.modbus.profile import ProfileError, load_profile
    from drivers.modbus.simulator.scenarios import SCENARIOS
    from drivers.modbus.simulator.server import (
        SimulatedDevice,
        start_rtu,
        start_rtu_pty,
        start_tcp,
    )
    from drivers.modbus.simulator.state_machine import ElevatorModel

    if args.list_scenarios:
        for s in SCENARIOS.values():
            print(f"{s.name:<28} {s.description}")
        return EXIT_OK
    units = _units(args.unit)
    if isinstance(units, str):
        print(f"error: {units}", file=sys.stderr)
        return EXIT_USAGE
    try:
        profile = load_profile(args.profile)
    except ProfileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    async def serve() -> None:
        devices = [
            SimulatedDevice(
                unit,
                profile,
                ElevatorModel(_with_lead(SCENARIOS[name], args.lead), seed=args.seed + unit),
                speed=args.speed,
            )
            for unit, name in units
        ]
        if args.pty:
            running = await start_rtu_pty(devices)
            where = f"RTU on {running.path} (open this path as the serial port)"
        elif args.serial:
            running = await start_rtu(devices, args.serial, args.baudrate)
            where = f"RTU on {args.serial} at {args.baudrate} baud"
        else:
            running = await start_tcp(devices, args.host, args.port)
            where = f"TCP on {args.host}:{running.port}"
        listing = ", ".join(f"unit {u}={n}" for u, n in units)
        print(f"simulating {profile.name} ({listing}) {where}, speed x{args.speed}", flush=True)
        try:
            if args.duration > 0:
                await asyncio.sleep(args.duration)
            else:
                await asyncio.Event().wait()
        finally:
            await running.stop()

    try:
        asyncio.run(serve())
    except (OSError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK
