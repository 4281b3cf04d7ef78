"""``edge-agent modbus probe|scan|profiles`` and ``edge-agent simulate elevator``.

Installer and crew tools. ``probe`` prints raw registers beside every 32-bit reading in
the four word/byte orders, which is how one finds byte order and address base on site
(research anchors-gateways.md §7 item 6, Telegraf's troubleshooting advice §5.1).
pymodbus is imported only inside the handlers, so other commands never load it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _int(text: str) -> int:
    """Accept 4112, 0x1010 or 0o20020."""
    return int(text, 0)


def _bus_args(p: argparse.ArgumentParser) -> None:
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--host", help="TCP: controller or gateway address")
    where.add_argument("--serial", metavar="PORT", help="RTU: serial port, e.g. /dev/ttyUSB0")
    p.add_argument("--port", type=int, default=502, help="TCP port (default 502)")
    p.add_argument("--baudrate", type=int, default=9600)
    p.add_argument("--parity", choices=("N", "E", "O"), default="N")
    p.add_argument("--stopbits", type=int, choices=(1, 2), default=1)
    p.add_argument("--timeout-ms", type=int, default=500, help="per-request timeout")


def register(sub: Any) -> None:
    group = sub.add_parser("modbus", help="probe and scan Modbus devices (read-only)")
    msub = group.add_subparsers(dest="modbus_command", metavar="ACTION", required=True)

    probe = msub.add_parser(
        "probe", help="read registers; show raw words and all 32-bit word/byte orders"
    )
    _bus_args(probe)
    probe.add_argument("--unit", type=int, default=1, help="unit (slave) id")
    probe.add_argument(
        "--table", choices=("holding", "input", "coil", "discrete_input"), default="holding"
    )
    probe.add_argument(
        "--address", default="0",
        help="0-based protocol address (4112 or 0x1010); with --modicon, e.g. 40001",
    )  # fmt: skip
    probe.add_argument(
        "--modicon", action="store_true", help="--address is a 1-based Modicon reference"
    )
    probe.add_argument("--count", type=int, default=10, help="registers/bits (max 125/2000)")
    probe.add_argument("--json", action="store_true", help="print one JSON document")
    probe.set_defaults(handler=probe_command)

    scan = msub.add_parser("scan", help="list unit ids that answer on a bus")
    _bus_args(scan)
    scan.add_argument("--first", type=int, default=1)
    scan.add_argument("--last", type=int, default=247)
    scan.add_argument("--table", choices=("holding", "input"), default="holding")
    scan.add_argument("--address", type=_int, default=0, help="register asked of each unit")
    scan.set_defaults(handler=scan_command, timeout_ms=100)

    profiles = msub.add_parser("profiles", help="list shipped profiles or check a profile file")
    profiles.add_argument("file", nargs="?", help="profile YAML to validate and plan")
    profiles.set_defaults(handler=profiles_command)


def register_simulator(simulate_sub: Any) -> None:
    """Adds ``simulate elevator`` (called by agent.commands.simulate)."""
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
    p.add_argument("--duration", type=float, default=0.0, help="stop after N s (0 = never)")
    p.add_argument("--list-scenarios", action="store_true", help="list scenarios and exit")
    p.set_defaults(handler=simulate_elevator_command)


def _link(args: argparse.Namespace) -> Any:
    from drivers.modbus.client import ModbusLink

    if args.serial:
        return ModbusLink(
            transport="rtu", timeout_s=args.timeout_ms / 1000, serial_port=args.serial,
            baudrate=args.baudrate, parity=args.parity, stopbits=args.stopbits,
        )  # fmt: skip
    return ModbusLink(transport="tcp", timeout_s=args.timeout_ms / 1000, host=args.host,
                      port=args.port)  # fmt: skip


def _probe_rows(start: int, words: list[int], table: str) -> list[dict[str, Any]]:
    base = {"holding": 40001, "input": 30001, "coil": 1, "discrete_input": 10001}[table]
    rows = []
    for i, w in enumerate(words):
        address = start + i
        rows.append({
            "address": address, "hex": f"0x{address:04X}", "modicon": base + address,
            "value": w, "i16": w - 0x10000 if w >= 0x8000 else w, "word": f"0x{w:04X}",
            "bits": f"{w:016b}",
        })  # fmt: skip
    return rows


def probe_command(args: argparse.Namespace) -> int:
    from drivers.modbus.decode import ORDERS, interpretations
    from drivers.modbus.errors import BusUnavailableError, ReadError
    from drivers.modbus.profile import parse_modicon

    try:
        if args.modicon:
            table, address = parse_modicon(args.address)
        else:
            table, address = args.table, _int(args.address)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    limit = 2000 if table in ("coil", "discrete_input") else 125
    if not 1 <= args.count <= limit or not 0 <= address <= 65535:
        print(f"error: count must be 1..{limit} and address 0..65535", file=sys.stderr)
        return EXIT_USAGE

    async def read() -> list[int] | list[bool]:
        link = _link(args)
        try:
            await link.connect()
            result: list[int] | list[bool] = await link.read(args.unit, table, address, args.count)
            return result
        finally:
            link.close()

    try:
        values = asyncio.run(read())
    except (ReadError, BusUnavailableError) as exc:
        print(f"error: unit {args.unit} {table} {address}+{args.count}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if table in ("coil", "discrete_input"):
        doc: dict[str, Any] = {"table": table, "address": address, "bits": [int(v) for v in values]}
        print(json.dumps(doc) if args.json else " ".join(str(b) for b in doc["bits"]))
        return EXIT_OK
    words = [int(v) for v in values]
    rows = _probe_rows(address, words, table)
    pairs = interpretations(words)
    if args.json:
        print(json.dumps({"table": table, "unit": args.unit, "registers": rows, "pairs": pairs}))
        return EXIT_OK
    print(f"unit {args.unit} {table} registers {address}..{address + len(words) - 1}")
    print(f"{'addr':>6} {'hex':>7} {'modicon':>7} {'u16':>6} {'i16':>7} {'word':>7}  bits")
    for r in rows:
        print(f"{r['address']:>6} {r['hex']:>7} {r['modicon']:>7} {r['value']:>6} "
              f"{r['i16']:>7} {r['word']:>7}  {r['bits']}")  # fmt: skip
    if pairs:
        print("\n32-bit readings of each register pair (u32 / i32 / f32):")
        print(f"{'addr':>6}  " + "  ".join(f"{o:<36}" for o in ORDERS))
        for pair in pairs:
            cells = []
            for o in ORDERS:
                v = pair[o]
                f = "nan" if v["f32"] is None else f"{v['f32']:.6g}"
                cells.append(f"{v['u32']:>10} {v['i32']:>11} {f:>12}")
            print(f"{address + pair['offset']:>6}  " + "  ".join(cells))
    return EXIT_OK


def scan_command(args: argparse.Namespace) -> int:
    from drivers.modbus.errors import BusUnavailableError, ExceptionReplyError, ReadError

    if not 1 <= args.first <= args.last <= 247:
        print("error: need 1 <= --first <= --last <= 247", file=sys.stderr)
        return EXIT_USAGE

    async def scan() -> list[tuple[int, str]]:
        found: list[tuple[int, str]] = []
        link = _link(args)
        try:
            await link.connect()
            for unit in range(args.first, args.last + 1):
                try:
                    await link.read(unit, args.table, args.address, 1)
                    found.append((unit, "ok"))
                except ExceptionReplyError as exc:
                    found.append((unit, f"exception {exc.code}"))  # it answered
                except ReadError:
                    continue
        finally:
            link.close()
        return found

    try:
        found = asyncio.run(scan())
    except BusUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    for unit, how in found:
        print(f"unit {unit}: {how}")
    print(f"{len(found)} unit(s) answered between {args.first} and {args.last}")
    return EXIT_OK if found else EXIT_FAILURE


def profiles_command(args: argparse.Namespace) -> int:
    from drivers.modbus.planner import describe, plan_profile
    from drivers.modbus.profile import ProfileError, load_profile, shipped_profiles

    names = [args.file] if args.file else shipped_profiles()
    code = EXIT_OK
    for name in names:
        try:
            profile = load_profile(name)
        except ProfileError as exc:
            print(exc, file=sys.stderr)
            code = EXIT_FAILURE
            continue
        print(f"{profile.name}: {profile.title}\n  plan: {describe(plan_profile(profile))}")
    return code


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
                ElevatorModel(SCENARIOS[name], seed=args.seed + unit),
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
