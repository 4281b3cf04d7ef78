"""``edge-agent diag`` for a ``modbus`` entry: does each device answer one read, and how fast.

Running agent: the devices are judged from its live status (agent/status.py), because a
second Modbus master on an RTU bus would collide with the agent's polls. Stopped agent:
one read of each device's first planned block (the same request the driver sends
first), timed, read-only. Runbook: docs/operations.md, "modbus.device".
"""

from __future__ import annotations

import time

from agent.diagnosis import DiagContext, Finding, LiveRule, judge_live
from drivers.modbus.check import profile_ref
from drivers.modbus.client import ModbusLink
from drivers.modbus.config import ModbusConfig, ModbusDeviceConfig
from drivers.modbus.driver import make_link
from drivers.modbus.errors import (
    BusUnavailableError,
    ExceptionReplyError,
    NoResponseError,
    ReadError,
)
from drivers.modbus.planner import plan_profile
from drivers.modbus.profile import ProfileError, load_profile

CHECK = "modbus.device"
FIX_SILENT = (
    "check the unit id, the RS-485 wiring/termination (or the TCP gateway), and that the "
    "controller is powered"
)
STALE_AFTER_S = 120.0


def _target(config: ModbusConfig, device: ModbusDeviceConfig) -> str:
    return f"{config.name}/{device.id} (unit {device.unit_id})"


async def diag_modbus(config: ModbusConfig, context: DiagContext) -> list[Finding]:
    if context.live is not None:
        live = context.live
        return [
            judge_live(
                live,
                config.name,
                d.id,
                LiveRule(CHECK, _target(config, d), FIX_SILENT, STALE_AFTER_S),
                context.now,
            )
            for d in config.devices
        ]
    link = make_link(config)
    try:
        try:
            await link.connect()
        except BusUnavailableError as exc:
            fix = "check the bus address (host:port or serial port) and its cable or network"
            return [
                Finding(
                    check=CHECK, target=_target(config, d), status="fail", value=str(exc), fix=fix
                )
                for d in config.devices
            ]
        return [await _probe(link, config, d, context) for d in config.devices]
    finally:
        link.close()


async def _probe(
    link: ModbusLink, config: ModbusConfig, device: ModbusDeviceConfig, context: DiagContext
) -> Finding:
    target = _target(config, device)
    try:
        profile = load_profile(profile_ref(device.profile, context.cwd))
    except ProfileError as exc:
        first_line = str(exc).splitlines()[0]
        return Finding(
            check=CHECK,
            target=target,
            status="fail",
            value=first_line,
            fix="run edge-agent config check",
        )
    requests = [r for group in plan_profile(profile).values() for r in group]
    if not requests:
        return Finding(check=CHECK, target=target, status="skip", value="profile reads nothing")
    first = requests[0]
    started = time.monotonic()
    try:
        await link.read(device.unit_id, first.table, first.address, first.count)
    except NoResponseError:
        value = f"no reply within {config.request_timeout_ms} ms"
        return Finding(check=CHECK, target=target, status="fail", value=value, fix=FIX_SILENT)
    except ExceptionReplyError as exc:
        fix = f"the unit answers but refuses the read: check profile {profile.name} fits it"
        return Finding(
            check=CHECK, target=target, status="fail", value=f"exception reply {exc.code}", fix=fix
        )
    except (ReadError, BusUnavailableError) as exc:
        return Finding(check=CHECK, target=target, status="fail", value=str(exc), fix=FIX_SILENT)
    rtt_ms = round((time.monotonic() - started) * 1000, 1)
    return Finding(
        check=CHECK,
        target=target,
        status="pass",
        value=f"answered {first.table} {first.address}+{first.count} in {rtt_ms} ms",
        measured={"rtt_ms": rtt_ms},
    )
