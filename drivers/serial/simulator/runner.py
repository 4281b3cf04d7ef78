"""Play scenario frames into a serial endpoint in (accelerated) time, honouring ACKs.

The bracelet base station retries an un-ACKed edge event 3x, 2 s apart (research
domain-devices.md §4.6); the runner does the same and stops as soon as the gateway's
``81`` ACK for that SEQ arrives. A pseudo-terminal pair stands in for the USB adapter:
the agent opens the printed path (or a stable symlink to it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from dataclasses import dataclass, field
from pathlib import Path

from drivers.serial.codec_bracelet import CMD_ACK, BraceletCodec
from drivers.serial.fdwait import readable
from drivers.serial.simulator.scenarios import Step

RETRIES = 3
RETRY_S = 2.0


def open_pty(link: Path | None = None) -> tuple[int, int, str]:
    """(master fd, slave fd, path) of a fresh raw pty pair; ``link`` -> slave if given."""
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    if link is not None:
        tmp = link.with_name(link.name + ".new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(path)
        tmp.replace(link)
        path = str(link)
    return master, slave, path


def remove_link(link: Path | None, slave: int) -> None:
    """Take ``link`` away if it still names our pty: once the pty is gone the kernel
    hands its /dev/pts number to the next pty opened, and a link left behind would then
    lead whoever opens it into another process's line."""
    if link is None:
        return
    with contextlib.suppress(OSError):
        if str(link.readlink()) == os.ttyname(slave):
            link.unlink()


@dataclass
class Runner:
    fd: int
    steps: list[Step]
    speed: float = 1.0
    duration: float = 0.0  # keep the line open (silently) until this simulated time
    acked: set[tuple[int, int]] = field(default_factory=set)
    sent: int = 0
    retried: int = 0

    async def _read_acks(self) -> None:
        codec = BraceletCodec()
        while True:
            await readable(self.fd)
            try:
                data = os.read(self.fd, 4096)
            except OSError:
                return
            for frame in codec.feed(data):
                if frame[6] == CMD_ACK:
                    self.acked.add((int.from_bytes(frame[7:11], "little"), frame[5]))

    def _schedule(self) -> list[tuple[float, int, Step]]:
        plan: list[tuple[float, int, Step]] = []
        for step in self.steps:
            plan.append((step.t, 0, step))
            if step.seq is not None:
                plan += [(step.t + RETRY_S * n, n, step) for n in range(1, RETRIES + 1)]
        plan.sort(key=lambda p: p[0])
        return plan

    async def run(self) -> None:
        reader = asyncio.create_task(self._read_acks())
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            for t, attempt, step in self._schedule():
                delay = start + t / self.speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                if attempt and (step.dev, step.seq) in self.acked:
                    continue
                os.write(self.fd, step.frame)
                self.sent += 1
                self.retried += attempt > 0
            rest = start + self.duration / self.speed - loop.time()
            if rest > 0:
                await asyncio.sleep(rest)
        finally:
            reader.cancel()
