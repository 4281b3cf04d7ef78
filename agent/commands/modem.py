"""``edge-agent modem check`` and ``edge-agent simulate modem`` (SMS escalation).

``check`` is the installer's look at a 4G/LTE modem before relying on it for alarms:
SIM state, network registration, signal in dBm and, on request, one test SMS. The
simulator is a pty speaking the same AT subset (drivers/serial/simulator/modem_sim.py).
pyserial is imported only inside the handlers (through drivers.serial.port).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from agent.commands.common import EXIT_FAILURE, EXIT_OK, add_json, print_json


def register(sub: Any) -> None:
    """Adds the ``modem`` group (called by agent.commands.serial, the serial kind's CLI)."""
    group = sub.add_parser("modem", help="check the 4G/LTE modem used for SMS escalation")
    msub = group.add_subparsers(dest="modem_command", metavar="ACTION", required=True)
    check = msub.add_parser("check", help="SIM, registration, signal; a test SMS on request")
    check.add_argument("--port", required=True, help="/dev/serial/by-id/... of the modem")
    check.add_argument("--baudrate", type=int, default=115200)
    check.add_argument("--timeout-s", type=float, default=10.0)
    check.add_argument("--send-test", metavar="NUMBER", help="also send a test SMS to NUMBER")
    check.add_argument("--text", default="edge-agent 测试短信 / test message")
    add_json(check)
    check.set_defaults(handler=check_command)


def register_simulator(simulate_sub: Any) -> None:
    """Adds ``simulate modem`` (called by agent.commands.serial_simulate)."""
    p = simulate_sub.add_parser("modem", help="a 4G/LTE modem on a pty that logs the SMS it sends")
    p.add_argument("--link", help="also create this symlink to the pty (a stable path)")
    p.add_argument("--scenario", default="normal",
                   choices=("normal", "no-sim", "no-signal", "cms-error", "slow"))  # fmt: skip
    p.add_argument("--fault-for-s", type=float, help="the fault clears after this many seconds")
    p.add_argument("--slow-s", type=float, default=3.0, help="reply delay of 'slow'")
    p.add_argument("--cmgs-delay-s", type=float, default=0.0,
                   help="hold back each +CMGS reply (the SMS is already out)")  # fmt: skip
    p.add_argument("--log", help="append each sent SMS (decoded) as a JSON line here")
    p.set_defaults(handler=simulate_command)


async def _check(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    from drivers.serial.modem import AtModem, ModemError

    doc: dict[str, Any] = {"port": args.port}
    try:
        async with AtModem(args.port, args.baudrate, args.timeout_s) as modem:
            status = await modem.status()
            doc.update(sim=status.sim, registration=status.registration, csq=status.csq,
                       signal_dbm=status.signal_dbm)  # fmt: skip
            if args.send_test:
                await modem.ready()
                doc["test_sms_refs"] = await modem.send_sms(args.send_test, args.text, ref=1)
    except ModemError as exc:
        doc.update(error=exc.reason, detail=exc.detail)
        return EXIT_FAILURE, doc
    ok = doc["sim"] == "READY" and doc["registration"] in ("home", "roaming")
    return (EXIT_OK if ok else EXIT_FAILURE), doc


def check_command(args: argparse.Namespace) -> int:
    code, doc = asyncio.run(_check(args))
    if args.json:
        print_json(doc)
    else:
        for key in ("port", "sim", "registration", "signal_dbm", "csq", "test_sms_refs",
                    "error", "detail"):  # fmt: skip
            if key in doc:
                print(f"{key:13} {doc[key]}")
    return code


async def _simulate(args: argparse.Namespace) -> int:
    from drivers.serial.simulator.modem_sim import ModemSim, open_log
    from drivers.serial.simulator.runner import open_pty, remove_link

    link = Path(args.link) if args.link else None
    master, slave, path = open_pty(link)
    print(path, flush=True)
    log = open_log(Path(args.log) if args.log else None)
    sim = ModemSim(master, args.scenario, args.fault_for_s, args.slow_s, log, args.cmgs_delay_s)
    try:
        await sim.run()
    finally:
        remove_link(link, slave)
        print(f"sent {len(sim.sent)} SMS", file=sys.stderr)
    return EXIT_OK


def simulate_command(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_simulate(args))
    except KeyboardInterrupt:
        return EXIT_OK
