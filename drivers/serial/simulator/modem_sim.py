"""A 4G/LTE modem on a pty speaking the AT subset the agent uses, for tests and training.

Scenarios (``edge-agent simulate modem --scenario``): ``normal``; ``no-sim`` (``AT+CPIN?``
answers ``+CME ERROR: 10``); ``no-signal`` (not registered, CSQ 99); ``cms-error``
(``AT+CMGS`` answers ``+CMS ERROR: 500`` after the PDU); ``slow`` (every reply delayed).
``cmgs_delay_s`` holds back the final ``+CMGS`` reply (a slow network). ``fault_for_s``
turns the fault into ``normal`` after that many seconds, so retries with backoff can be
watched succeeding. Every message the modem "sent" is decoded (UCS2, concatenated parts
joined) and logged as one JSON line with the wall-clock time the modem took its last
part: the latency benchmark measures alarm-to-SMS against it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from drivers.serial.fdwait import readable
from drivers.serial.sms_pdu import PduError, decode_submit

SCENARIOS = ("normal", "no-sim", "no-signal", "cms-error", "slow")
CTRL_Z = 0x1A


@dataclass
class ModemSim:
    fd: int
    scenario: str = "normal"
    fault_for_s: float | None = None  # None: the fault lasts for ever
    slow_s: float = 3.0
    log: TextIO | None = None
    cmgs_delay_s: float = 0.0  # a slow network: the message is out, +CMGS comes later
    sent: list[dict[str, Any]] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    _echo: bool = True
    _pdu_len: int | None = None
    _parts: dict[tuple[str, int], dict[int, str]] = field(default_factory=dict)
    _mr: int = 0
    _started: float = field(default_factory=time.monotonic)
    _late_replies: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def active(self) -> str:
        if self.fault_for_s is not None and time.monotonic() - self._started > self.fault_for_s:
            return "normal"
        return self.scenario

    def _write(self, text: str) -> None:
        # Nobody has the port open: a real modem's bytes are lost too.
        with contextlib.suppress(OSError):
            os.write(self.fd, text.encode("ascii"))

    async def _reply(self, *lines: str) -> None:
        if self.active == "slow":
            await asyncio.sleep(self.slow_s)
        self._write("".join(f"\r\n{line}\r\n" for line in lines))

    async def handle(self, cmd: str) -> None:
        """Answer one command line (without its CR)."""
        self.commands.append(cmd)
        if self._echo:
            self._write(cmd + "\r")
        upper = cmd.strip().upper()
        if upper == "ATE0":
            self._echo = False
            await self._reply("OK")
        elif upper == "AT+CPIN?":
            no_sim = self.active == "no-sim"
            await self._reply(*(["+CME ERROR: 10"] if no_sim else ["+CPIN: READY", "OK"]))
        elif upper == "AT+CREG?":
            stat = 2 if self.active == "no-signal" else 1
            await self._reply(f"+CREG: 0,{stat}", "OK")
        elif upper == "AT+CSQ":
            await self._reply("+CSQ: 99,99" if self.active == "no-signal" else "+CSQ: 21,99", "OK")
        elif upper.startswith("AT+CMGS="):
            self._pdu_len = int(upper.split("=", 1)[1] or 0)
            if self.active == "slow":
                await asyncio.sleep(self.slow_s)
            self._write("\r\n> ")
        elif upper in ("AT", "AT+CMGF=0", "AT+CMGF=1", "ATZ") or upper.startswith("AT+CSCS"):
            await self._reply("OK")
        else:
            await self._reply("ERROR")

    async def handle_pdu(self, hex_text: str) -> None:
        self._pdu_len = None
        if self.active == "cms-error":
            await self._reply("+CMS ERROR: 500")
            return
        try:
            part = decode_submit(hex_text)
        except PduError:
            await self._reply("+CMS ERROR: 304")  # invalid PDU mode parameter
            return
        self._mr = (self._mr + 1) % 256
        mr = self._mr
        key = (part.number, part.ref if part.ref is not None else -mr)
        parts = self._parts.setdefault(key, {})
        parts[part.index] = part.text
        if len(parts) == part.total:
            # Logged when the network has it, before the modem answers: a crash of the
            # agent while it waits for +CMGS leaves a message that really went out.
            del self._parts[key]
            self._record(part.number, "".join(parts[i] for i in sorted(parts)), part.total)
        if self.cmgs_delay_s:
            # In the background: the modem keeps answering other commands meanwhile.
            task = asyncio.create_task(self._late(f"+CMGS: {mr}"))
            self._late_replies.add(task)
            task.add_done_callback(self._late_replies.discard)
            return
        await self._reply(f"+CMGS: {mr}", "OK")

    async def _late(self, line: str) -> None:
        await asyncio.sleep(self.cmgs_delay_s)
        await self._reply(line, "OK")

    def _record(self, number: str, text: str, total: int) -> None:
        entry = {"t": time.time(), "to": number, "text": text, "parts": total}
        self.sent.append(entry)
        if self.log is not None:
            self.log.write(json.dumps(entry, ensure_ascii=False) + "\n")
            self.log.flush()

    async def run(self) -> None:
        """Serve until cancelled."""
        buffer = b""
        while True:
            await readable(self.fd)
            try:
                buffer += os.read(self.fd, 4096)
            except OSError:
                await asyncio.sleep(0.05)  # no slave open at the moment (EIO on a pty)
                continue
            buffer = await self._consume(buffer)

    async def _consume(self, buffer: bytes) -> bytes:
        while True:
            if self._pdu_len is not None:
                end = buffer.find(bytes([CTRL_Z]))
                if end < 0:
                    return buffer
                await self.handle_pdu(buffer[:end].decode("ascii", "replace").strip())
                buffer = buffer[end + 1 :]
                continue
            end = buffer.find(b"\r")
            if end < 0:
                return buffer
            line = buffer[:end].decode("ascii", "replace").strip()
            buffer = buffer[end + 1 :].lstrip(b"\n")
            if line:
                await self.handle(line)


def open_log(path: Path | None) -> TextIO | None:
    return None if path is None else path.open("a", encoding="utf-8")
