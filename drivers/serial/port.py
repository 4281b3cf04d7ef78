"""The one module that imports pyserial: open a port exclusively, read it off the loop.

Ports are by stable path (``/dev/serial/by-id/...``) or pyserial URL
(``socket://host:port``, ``loop://``). Local ports are opened with ``exclusive=True``
(research anchors-reliability.md §2.4), so a second agent or a crew's monitor cannot
steal frames. Reads use the file descriptor with ``loop.add_reader`` when the port has
one, so the event loop never blocks; URL ports without a descriptor are read in a worker
thread. An unplugged port (read error, EOF, hang-up) raises
:class:`~drivers.serial.errors.PortUnavailableError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

import serial
from serial.tools import list_ports

from drivers.serial.errors import PortUnavailableError
from drivers.serial.fdwait import readable


class SerialPort:
    def __init__(self, url: str, baudrate: int) -> None:
        self.url = url
        self.baudrate = baudrate
        self._port: Any = None
        self._fd: int | None = None

    def open(self) -> None:
        try:
            if "://" in self.url:
                self._port = serial.serial_for_url(self.url, baudrate=self.baudrate, timeout=0.2)
            else:
                self._port = serial.Serial(
                    self.url, baudrate=self.baudrate, timeout=0, exclusive=True
                )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise PortUnavailableError(f"cannot open {self.url}: {exc}") from None
        try:
            self._fd = self._port.fileno() if "://" not in self.url else None
        except (AttributeError, OSError, serial.SerialException):
            self._fd = None

    def close(self) -> None:
        if self._port is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                self._port.close()
            self._port = None

    async def read(self) -> bytes:
        """The next chunk of bytes (at least one); raises PortUnavailableError when gone."""
        if self._fd is None:
            return await asyncio.to_thread(self._blocking_read)
        await readable(self._fd)
        try:
            data = os.read(self._fd, 4096)
        except OSError as exc:
            raise PortUnavailableError(f"{self.url}: read failed ({exc.strerror})") from None
        if not data:
            raise PortUnavailableError(f"{self.url}: port closed")
        return data

    def _blocking_read(self) -> bytes:
        while True:
            try:
                data: bytes = self._port.read(max(1, self._port.in_waiting))
            except (serial.SerialException, OSError, AttributeError) as exc:
                raise PortUnavailableError(f"{self.url}: read failed ({exc})") from None
            if data:
                return data

    def write(self, data: bytes) -> None:
        try:
            if self._fd is not None:
                os.write(self._fd, data)
            else:
                self._port.write(data)
        except (serial.SerialException, OSError) as exc:
            raise PortUnavailableError(f"{self.url}: write failed ({exc})") from None


def candidate_ports() -> list[dict[str, Any]]:
    """Serial ports the OS lists, with by-id names and USB vendor/product ids."""
    out = []
    for p in list_ports.comports():
        out.append({"device": p.device, "description": p.description, "hwid": p.hwid,
                    "vid": p.vid, "pid": p.pid, "serial_number": p.serial_number})  # fmt: skip
    return out
