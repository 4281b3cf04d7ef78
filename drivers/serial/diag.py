"""``edge-agent diag`` for a ``serial`` entry: the port exists, opens, and yields valid frames.

Running agent: judged from its live status (agent/status.py); the agent holds the port
exclusively, so opening it here would fail or steal its frames. Stopped agent: the port
is opened exclusively and listened to for ``context.listen_s``; the bytes go through the
entry's own codec, so "valid" means what the driver would accept. Runbook:
docs/operations.md, "serial.port".
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from agent.diagnosis import DiagContext, Finding, LiveRule, judge_live
from drivers.serial.codec import CodecStats
from drivers.serial.codecs import make_codec
from drivers.serial.config import SerialConfig
from drivers.serial.errors import PortUnavailableError
from drivers.serial.port import SerialPort

CHECK = "serial.port"
FIX_MISSING = "plug the adapter in; list ports with edge-agent serial scan and use its by-id path"
FIX_OPEN = "stop whatever holds the port; the service user needs the dialout group"
FIX_SILENT = "check the device is powered and paired, and its cable"
STALE_AFTER_S = 600.0


def _fix_garbage(config: SerialConfig, baudrate: int) -> str:
    return (
        f"bytes arrive but no valid {config.codec} frame: check the codec and the baud "
        f"rate ({baudrate})"
    )


def _judge_counts(stats: dict[str, Any], frames: int, target: str, fix_garbage: str) -> Finding:
    bad = int(stats.get("checksum_errors", 0)) + int(stats.get("resyncs", 0))
    got = int(stats.get("bytes_in", 0))
    measured = {**stats}
    if frames:
        value = f"{frames} valid frames, {bad} bad"
        return Finding(check=CHECK, target=target, status="pass", value=value, measured=measured)
    if got:
        value = f"{got} bytes, no valid frame ({bad} bad)"
        return Finding(
            check=CHECK,
            target=target,
            status="fail",
            value=value,
            fix=fix_garbage,
            measured=measured,
        )
    return Finding(
        check=CHECK,
        target=target,
        status="fail",
        value="no bytes at all",
        fix=FIX_SILENT,
        measured=measured,
    )


def _live(config: SerialConfig, context: DiagContext, baudrate: int) -> Finding:
    assert context.live is not None
    target = f"{config.name} ({config.port})"
    rule = LiveRule(CHECK, target, FIX_SILENT, STALE_AFTER_S)
    finding = judge_live(context.live, config.name, config.port, rule, context.now)
    entry = context.live.device(config.name, config.port)
    if finding.status == "fail" or entry is None or entry.state != "online":
        return finding
    if entry.last_seen is None:  # open, but nothing valid yet: garbage, or silence
        stats = {k: v for k, v in entry.details.items() if isinstance(v, int)}
        return _judge_counts(stats, 0, target, _fix_garbage(config, baudrate))
    return finding


async def _listen(port: SerialPort, config: SerialConfig, seconds: float) -> CodecStats:
    codec = make_codec(config.codec)
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            async with asyncio.timeout(left):
                data = await port.read()
        except TimeoutError:
            break
        for _frame in codec.feed(data):
            pass
    return codec.stats


async def diag_serial(config: SerialConfig, context: DiagContext) -> list[Finding]:
    baudrate = config.baudrate or make_codec(config.codec).baudrate
    if context.live is not None:
        return [_live(config, context, baudrate)]
    target = f"{config.name} ({config.port})"
    exists = await asyncio.to_thread(Path(config.port).exists)
    if "://" not in config.port and not exists:
        return [
            Finding(
                check=CHECK, target=target, status="fail", value="does not exist", fix=FIX_MISSING
            )
        ]
    port = SerialPort(config.port, baudrate)
    try:
        try:
            await asyncio.to_thread(port.open)
        except PortUnavailableError as exc:
            return [
                Finding(check=CHECK, target=target, status="fail", value=str(exc), fix=FIX_OPEN)
            ]
        try:
            stats = await _listen(port, config, context.listen_s)
        except PortUnavailableError as exc:
            return [
                Finding(check=CHECK, target=target, status="fail", value=str(exc), fix=FIX_MISSING)
            ]
    finally:
        port.close()
    finding = _judge_counts(
        stats.as_dict(), stats.frames_ok, target, _fix_garbage(config, baudrate)
    )
    finding.value += f" in {context.listen_s:g} s"
    return [finding]
