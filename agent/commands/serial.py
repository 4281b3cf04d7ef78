"""``edge-agent serial monitor|scan`` (``simulate wearable`` is in serial_simulate.py).

Crew and installer tools: ``monitor`` shows decoded frames live with the codec's error
counters; ``scan`` lists candidate ports (by-id names, USB vendor/product) and which
codec recognises the bytes on each at its usual baud rate. pyserial is imported only
inside the handlers (through drivers.serial.port).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from agent.commands.common import EXIT_FAILURE, EXIT_OK

CODEC_NAMES = ("seeed5359", "tinyframe", "ld2410", "bracelet")


def register(sub: Any) -> None:
    group = sub.add_parser("serial", help="watch and find wearable/radar serial ports")
    ssub = group.add_subparsers(dest="serial_command", metavar="ACTION", required=True)
    mon = ssub.add_parser("monitor", help="show decoded frames live with error counters")
    mon.add_argument("--port", required=True, help="/dev/serial/by-id/... or a pyserial URL")
    mon.add_argument("--codec", required=True, choices=CODEC_NAMES)
    mon.add_argument("--baudrate", type=int, default=0, help="0: the codec's usual rate")
    mon.add_argument("--json", action="store_true", help="one JSON document per frame")
    mon.add_argument("--frames", type=int, default=0, help="stop after N frames (0: never)")
    mon.set_defaults(handler=monitor_command)
    scan = ssub.add_parser("scan", help="list ports and the codec each one speaks")
    scan.add_argument("--listen-s", type=float, default=2.0, help="seconds per port and rate")
    scan.add_argument("--port", action="append", default=[], help="also try this port/URL")
    scan.set_defaults(handler=scan_command)
    from agent.commands.modem import register as register_modem

    register_modem(sub)  # the SMS modem is a serial device: its group lives with this kind


def _line(obs: list[Any], frame: bytes, stats: dict[str, int], as_json: bool) -> str:
    values = [{"kind": o.kind, "value": o.value, "device": o.device_id, "valid": o.valid}
              for o in obs]  # fmt: skip
    if as_json:
        return json.dumps({"t": round(time.time(), 3), "frame": frame.hex(), "obs": values,
                           "stats": stats})  # fmt: skip
    text = " ".join(f"{v['device'] + ':' if v['device'] else ''}{v['kind']}={v['value']}"
                    for v in values) or "(no values)"  # fmt: skip
    return f"{frame.hex(' ')}  {text}  [{stats}]"


async def _monitor(args: argparse.Namespace) -> int:
    from drivers.serial.codecs import make_codec
    from drivers.serial.errors import PortUnavailableError
    from drivers.serial.port import SerialPort

    codec = make_codec(args.codec)
    port = SerialPort(args.port, args.baudrate or codec.baudrate)
    seen = 0
    try:
        await asyncio.to_thread(port.open)
        while True:
            for frame in codec.feed(await port.read()):
                print(_line(codec.decode(frame), frame, codec.stats.as_dict(), args.json),
                      flush=True)  # fmt: skip
                seen += 1
                if args.frames and seen >= args.frames:
                    return EXIT_OK
    except PortUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        port.close()


def monitor_command(args: argparse.Namespace) -> int:
    return asyncio.run(_monitor(args))


async def _sniff(url: str, listen_s: float) -> str | None:
    from drivers.serial.codecs import CODECS
    from drivers.serial.errors import PortUnavailableError
    from drivers.serial.port import SerialPort

    for name, cls in CODECS.items():
        port = SerialPort(url, cls.baudrate)
        codec = cls()
        try:
            await asyncio.to_thread(port.open)
            async with asyncio.timeout(listen_s):
                while not codec.feed(await port.read()):
                    pass
            return name
        except (TimeoutError, PortUnavailableError):
            continue
        finally:
            port.close()
    return None


def scan_command(args: argparse.Namespace) -> int:
    from drivers.serial.port import candidate_ports

    ports = candidate_ports() + [{"device": p} for p in args.port]
    by_id = Path("/dev/serial/by-id")
    links = {str(p.resolve()): str(p) for p in by_id.iterdir()} if by_id.is_dir() else {}
    for info in ports:
        codec = asyncio.run(_sniff(info["device"], args.listen_s))
        name = links.get(info["device"], info["device"])
        usb = f"{info.get('vid') or 0:04x}:{info.get('pid') or 0:04x}" if info.get("vid") else "-"
        print(f"{name}  usb={usb}  {info.get('description', '')}  codec={codec or 'none'}")
    if not ports:
        print("no serial ports found")
    return EXIT_OK
