"""The thin adapter over pymodbus' async clients; the only driver module importing it.

pymodbus' API moves between minor releases (``slave`` -> ``device_id`` in 3.10, payload
classes removed; research anchors-reliability.md §2.2), so it stays behind this seam.
Settings chosen from the same research (§2.1): ``reconnect_delay=0`` (no library
reconnect loop competing with our supervisor), ``retries=0`` (a retry doubles the time a
silent unit steals from the others on the bus; the next poll is the retry), and the
"close after N silent requests" rule relaxed so one dead unit id behind a TCP gateway
does not drop the connection for the healthy ones.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from drivers.modbus.errors import (
    BusUnavailableError,
    ExceptionReplyError,
    MalformedReplyError,
    NoResponseError,
)

_NEVER_CLOSE = 1_000_000

# pymodbus logs every missed reply at ERROR with a hex dump; our devices log the
# offline/online transitions instead ("log transitions, not every failure").
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """Where the bus is and how to talk on it: TCP host/port, or RTU serial settings."""

    transport: str  # "tcp" | "rtu"
    timeout_s: float
    host: str = "127.0.0.1"
    port: int = 502
    serial_port: str = ""
    baudrate: int = 9600
    parity: str = "N"
    stopbits: int = 1
    bytesize: int = 8

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}" if self.transport == "tcp" else self.serial_port


class ModbusLink:
    """One open bus: ``read`` one block from one unit at a time."""

    def __init__(self, settings: LinkSettings) -> None:
        s = settings
        self.timeout_s = s.timeout_s
        self.where = s.where
        self._client: Any
        if s.transport == "tcp":
            self._client = AsyncModbusTcpClient(
                s.host, port=s.port, framer=FramerType.SOCKET, timeout=s.timeout_s,
                retries=0, reconnect_delay=0, reconnect_delay_max=0,
            )  # fmt: skip
        else:
            self._client = AsyncModbusSerialClient(
                s.serial_port, framer=FramerType.RTU, baudrate=s.baudrate, parity=s.parity,
                stopbits=s.stopbits, bytesize=s.bytesize, timeout=s.timeout_s, retries=0,
                reconnect_delay=0, reconnect_delay_max=0,
            )  # fmt: skip
        self._client.set_max_no_responses(_NEVER_CLOSE)
        self._calls = {
            "holding": self._client.read_holding_registers,
            "input": self._client.read_input_registers,
            "coil": self._client.read_coils,
            "discrete_input": self._client.read_discrete_inputs,
        }

    async def connect(self) -> None:
        try:
            ok = await self._client.connect()
        except (OSError, ModbusException) as exc:
            raise BusUnavailableError(f"cannot open {self.where}: {exc}") from None
        if not ok:
            raise BusUnavailableError(f"cannot open {self.where}")

    def close(self) -> None:
        self._client.close()

    async def write(self, unit: int, table: str, address: int, value: int) -> None:
        """Write one coil or holding register (a named output, agent/actuator.py)."""
        if not self._client.connected:
            await self.connect()
        try:
            if table == "coil":
                reply = await self._client.write_coil(address, bool(value), device_id=unit)
            else:
                reply = await self._client.write_register(address, value, device_id=unit)
        except TimeoutError:
            raise NoResponseError(f"unit {unit}: no reply") from None
        except ConnectionException as exc:
            raise BusUnavailableError(f"{self.where}: {exc}") from None
        except (ModbusException, ValueError) as exc:
            raise MalformedReplyError(f"unit {unit}: {exc}") from None
        if reply.isError():
            raise ExceptionReplyError(int(getattr(reply, "exception_code", 0)))

    async def read(self, unit: int, table: str, address: int, count: int) -> list[int] | list[bool]:
        """Read one block; raise a ``ReadError`` subclass, or ``BusUnavailableError``."""
        if not self._client.connected:
            await self.connect()  # one quiet attempt; failing again is the driver's end
        call = self._calls[table]
        try:
            # pymodbus enforces the per-request timeout (``timeout=``, retries=0).
            reply = await call(address, count=count, device_id=unit)
        except TimeoutError:
            raise NoResponseError(f"unit {unit}: no reply") from None
        except ConnectionException as exc:
            raise BusUnavailableError(f"{self.where}: {exc}") from None
        except ModbusIOException as exc:
            text = str(exc)
            if "No response" in text or "no response" in text:
                raise NoResponseError(f"unit {unit}: no reply") from None
            raise MalformedReplyError(f"unit {unit}: {text}") from None
        except (ModbusException, ValueError, IndexError) as exc:
            raise MalformedReplyError(f"unit {unit}: {exc}") from None
        if reply.isError():
            raise ExceptionReplyError(int(getattr(reply, "exception_code", 0)))
        if table in ("coil", "discrete_input"):
            bits = list(reply.bits)
            if len(bits) < count:
                raise MalformedReplyError(f"unit {unit}: {len(bits)} bits for {count}")
            return [bool(b) for b in bits[:count]]
        registers: list[int] = reply.registers
        if len(registers) != count:
            raise MalformedReplyError(f"unit {unit}: {len(registers)} registers for {count}")
        return registers
