"""``edge-agent modbus probe|scan|profiles``: installer and crew tools, read-only.

``probe`` prints raw registers beside every 32-bit reading in
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

from agent.commands.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, add_json, print_json


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
    add_json(probe)
    probe.set_defaults(handler=probe_command)

    scan = msub.add_parser("scan", help="list unit ids that answer on a bus")
    _bus_args(scan)
    scan.add_argument("--first", type=int, default=1)
    scan.add_argument("--last", type=int, default=247)
    scan.add_argument("--table", choices=("holding", "input"), default="holding")
    scan.add_argument("--address", type=_int, default=0, help="register asked of each unit")
    add_json(scan)
    scan.set_defaults(handler=scan_command, timeout_ms=100)

    profiles = msub.add_parser("profiles", help="list shipped profiles or check a profile file")
    profiles.add_argument("file", nargs="?", help="profile YAML to validate and plan")
    add_json(profiles)
    profiles.set_defaults(handler=profiles_command)


def _link(args: argparse.Namespace) -> Any:
    from drivers.modbus.client import LinkSettings, ModbusLink

    if args.serial:
        return ModbusLink(
            LinkSettings(
                transport="rtu", timeout_s=args.timeout_ms / 1000, serial_port=args.serial,
                baudrate=args.baudrate, parity=args.parity, stopbits=args.stopbits,
            )
        )  # fmt: skip
    return ModbusLink(LinkSettings(transport="tcp", timeout_s=args.timeout_ms / 1000,
                                   host=args.host, port=args.port))  # fmt: skip


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
        _print_pairs(address, pairs, ORDERS)
    return EXIT_OK


def _print_pairs(address: int, pairs: list[dict[str, Any]], orders: tuple[str, ...]) -> None:
    """One line per register pair and word/byte order: fits an 80-column terminal."""
    print("\n32-bit readings of each register pair:")
    print(f"{'addr':>6} {'order':<5} {'u32':>10} {'i32':>11} {'f32':>14}")
    for pair in pairs:
        for o in orders:
            v = pair[o]
            f = "nan" if v["f32"] is None else f"{v['f32']:.6g}"
            print(f"{address + pair['offset']:>6} {o:<5} {v['u32']:>10} {v['i32']:>11} {f:>14}")


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
                _progress(unit, args, len(found))
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
    finally:
        if sys.stderr.isatty():
            print(file=sys.stderr)
    if args.json:
        print_json({"first": args.first, "last": args.last,
                    "units": [{"unit": u, "answer": how} for u, how in found]})  # fmt: skip
    else:
        for unit, how in found:
            print(f"unit {unit}: {how}")
        print(f"{len(found)} unit(s) answered between {args.first} and {args.last}")
    return EXIT_OK if found else EXIT_FAILURE


def _progress(unit: int, args: argparse.Namespace, answered: int) -> None:
    """Where the scan is, on stderr (it takes ~25 s over 247 units at 100 ms each)."""
    total = args.last - args.first + 1
    done = unit - args.first
    if sys.stderr.isatty():
        print(f"\rscanning unit {unit} ({done}/{total}, {answered} answered)", end="",
              file=sys.stderr, flush=True)  # fmt: skip
    elif done % 16 == 0:
        print(f"scanning units {unit}..{min(unit + 15, args.last)} of {args.first}..{args.last}",
              file=sys.stderr, flush=True)  # fmt: skip


def profiles_command(args: argparse.Namespace) -> int:
    from drivers.modbus.planner import describe, plan_profile
    from drivers.modbus.profile import ProfileError, load_profile, shipped_profiles

    names = [args.file] if args.file else shipped_profiles()
    code = EXIT_OK
    rows: list[dict[str, Any]] = []
    for name in names:
        try:
            profile = load_profile(name)
        except ProfileError as exc:
            print(exc, file=sys.stderr)
            code = EXIT_USAGE  # a profile that does not validate is a config error
            continue
        rows.append(
            {"name": profile.name, "title": profile.title, "plan": describe(plan_profile(profile))}
        )
    if args.json:
        print_json(rows)
    else:
        for r in rows:
            print(f"{r['name']}: {r['title']}\n  plan: {r['plan']}")
    return code
