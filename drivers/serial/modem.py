"""A serial 4G/LTE modem spoken to with the small AT subset SMS escalation needs.

``AT``, ``ATE0``, ``AT+CPIN?`` (SIM), ``AT+CREG?`` (registration), ``AT+CSQ`` (signal),
``AT+CMGF=0`` (PDU mode) and ``AT+CMGS`` (send, one PDU per part; drivers/serial/sms_pdu.py
says why PDU and not text mode). The port is opened through drivers/serial/port.py, the
one pyserial owner, so the modem adds no library of its own.

Every failure is a :class:`ModemError` with a short ``reason`` (``absent``, ``no_sim``,
``no_signal``, ``error``, ``cms_error``, ``timeout``): the escalation component reports a
reason once when it changes, not every retry (docs/escalation.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass
from types import TracebackType

from drivers.serial.errors import PortUnavailableError
from drivers.serial.port import SerialPort
from drivers.serial.sms_pdu import encode_submit

CTRL_Z = b"\x1a"
_FINAL_ERROR = re.compile(r"^(ERROR|\+CME ERROR:.*|\+CMS ERROR:.*)$")


class ModemError(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class ModemStatus:
    sim: str  # READY, SIM PIN, ... or the error line
    registration: str  # home, roaming, searching, denied, not_registered, unknown
    csq: int  # 0..31, 99 = unknown
    signal_dbm: int | None

    @property
    def registered(self) -> bool:
        return self.registration in ("home", "roaming")


_CREG = {0: "not_registered", 1: "home", 2: "searching", 3: "denied", 4: "unknown", 5: "roaming"}


def csq_to_dbm(csq: int) -> int | None:
    """3GPP TS 27.007 §8.5: 0 is -113 dBm or less, 2 dBm a step, 31 is -51 or more."""
    if not 0 <= csq <= 31:
        return None
    return -113 + 2 * csq


class AtModem:
    """One open modem port; use as ``async with AtModem(port) as modem``."""

    def __init__(self, port: str, baudrate: int = 115200, timeout_s: float = 10.0) -> None:
        self.port = port
        self.timeout_s = timeout_s
        self._serial = SerialPort(port, baudrate)
        self._buffer = b""

    async def __aenter__(self) -> AtModem:
        try:
            await asyncio.to_thread(self._serial.open)
        except PortUnavailableError as exc:
            raise ModemError("absent", str(exc)) from None
        try:
            await self.command("AT")
            await self.command("ATE0")  # no echo: replies are only the modem's own lines
        except BaseException:
            self._serial.close()
            raise
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._serial.close()

    async def _read_more(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise ModemError("timeout", f"{self.port}: no reply in {self.timeout_s:g} s")
        try:
            async with asyncio.timeout(remaining):
                self._buffer += await self._serial.read()
        except TimeoutError:
            raise ModemError("timeout", f"{self.port}: no reply in {self.timeout_s:g} s") from None
        except PortUnavailableError as exc:
            raise ModemError("absent", str(exc)) from None

    async def _line(self, deadline: float, *, prompt: bool = False) -> str:
        while True:
            stripped = self._buffer.lstrip(b"\r\n")
            if prompt and stripped.startswith(b">"):
                self._buffer = b""
                return ">"
            end = stripped.find(b"\r\n")
            if end < 0:
                end = stripped.find(b"\n")
            if end >= 0:
                self._buffer = stripped[end + 1 :]
                return stripped[:end].decode("ascii", "replace").strip()
            self._buffer = stripped
            await self._read_more(deadline)

    def _write(self, data: bytes) -> None:
        try:
            self._serial.write(data)
        except PortUnavailableError as exc:
            raise ModemError("absent", str(exc)) from None

    async def command(self, cmd: str, timeout_s: float | None = None) -> list[str]:
        """Send ``cmd``; the lines before ``OK``. ERROR lines raise ModemError."""
        self._buffer = b""  # a late reply to an earlier conversation must not answer this one
        self._write(cmd.encode("ascii") + b"\r")
        return await self._until_ok(cmd, timeout_s)

    async def _until_ok(self, what: str, timeout_s: float | None) -> list[str]:
        deadline = asyncio.get_running_loop().time() + (timeout_s or self.timeout_s)
        lines: list[str] = []
        while True:
            line = await self._line(deadline)
            if not line or line == what:  # an echo left over from before ATE0
                continue
            if line == "OK":
                return lines
            if _FINAL_ERROR.match(line):
                reason = "cms_error" if line.startswith("+CMS") else "error"
                raise ModemError(reason, f"{what}: {line}")
            lines.append(line)

    async def status(self) -> ModemStatus:
        """SIM, registration and signal; a missing SIM is a status, not an exception."""
        try:
            sim_lines = await self.command("AT+CPIN?")
            sim = next((s.split(":", 1)[1].strip() for s in sim_lines if s.startswith("+CPIN")),
                       "unknown")  # fmt: skip
        except ModemError as exc:
            if exc.reason != "error":
                raise
            sim = exc.detail.split(": ", 1)[-1]
        registration = "unknown"
        with contextlib.suppress(ModemError):
            for line in await self.command("AT+CREG?"):
                if line.startswith("+CREG:"):
                    stat = int(line.split(":", 1)[1].split(",")[-1].strip() or 4)
                    registration = _CREG.get(stat, "unknown")
        csq = 99
        for line in await self.command("AT+CSQ"):
            if line.startswith("+CSQ:"):
                csq = int(line.split(":", 1)[1].split(",")[0].strip())
        return ModemStatus(sim, registration, csq, csq_to_dbm(csq))

    async def ready(self) -> ModemStatus:
        """The status, or ModemError ``no_sim`` / ``no_signal`` when it cannot send."""
        status = await self.status()
        if status.sim != "READY":
            raise ModemError("no_sim", f"{self.port}: SIM {status.sim}")
        if not status.registered or status.signal_dbm is None:
            raise ModemError("no_signal", f"{self.port}: {status.registration}, CSQ {status.csq}")
        return status

    async def send_sms(self, number: str, text: str, ref: int) -> list[int]:
        """Send ``text`` (as many parts as it needs); the modem's message references."""
        await self.command("AT+CMGF=0")
        refs: list[int] = []
        for pdu in encode_submit(number, text, ref):
            self._write(f"AT+CMGS={pdu.tpdu_length}\r".encode("ascii"))
            deadline = asyncio.get_running_loop().time() + self.timeout_s
            while (line := await self._line(deadline, prompt=True)) != ">":
                if _FINAL_ERROR.match(line):
                    raise ModemError("cms_error" if "CMS" in line else "error", line)
            self._write(pdu.hex.encode("ascii") + CTRL_Z)
            # Delivery to the network can take tens of seconds on a weak signal.
            lines = await self._until_ok("AT+CMGS", timeout_s=max(self.timeout_s, 60.0))
            for line in lines:
                if line.startswith("+CMGS:"):
                    refs.append(int(line.split(":", 1)[1].strip() or 0))
        return refs
