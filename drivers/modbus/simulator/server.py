"""pymodbus servers (TCP, or RTU on a serial port / pseudo-terminal) for simulated lifts.

The datastore is our own context: each read encodes the car's current state through the
profile, so the words a driver reads are exactly what the profile says. Quirks handled:
pymodbus 3.16's sequential datablock cannot start at address 0 (research
anchors-reliability.md §2.2), so we bypass datablocks altogether and serve protocol
addresses as they come. A "silent" unit raises ``NoSuchIdException`` with
``ignore_missing_devices`` set, so the server sends nothing; "garbage" replies are
corrupted in ``trace_packet`` on their way out.

Like a controller, it answers exception 01 (illegal function) for function codes it does
not serve and writes, and 02 (illegal data address) for a read touching any address
outside the profile's map. Gaps inside the map no longer than the profile's
``max_gap_registers`` are readable (as zeros): the profile declares that this device
tolerates reading them, and the agent's read planner bridges exactly those gaps.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import time
import tty
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.datastore import ModbusServerContext
from pymodbus.exceptions import NoSuchIdException
from pymodbus.server import ModbusSerialServer, ModbusTcpServer

from drivers.modbus.profile import Profile
from drivers.modbus.simulator.encode import encode
from drivers.modbus.simulator.scenarios import Scenario
from drivers.modbus.simulator.state_machine import ElevatorModel

_TABLE_BY_FC = {1: "coil", 2: "discrete_input", 3: "holding", 4: "input"}


@dataclass
class SimulatedDevice:
    """One unit id: a profile, a car model, a clock and request counters."""

    unit_id: int
    profile: Profile
    model: ElevatorModel
    speed: float = 1.0
    started: float = field(default_factory=time.monotonic)
    requests: Counter[str] = field(default_factory=Counter)
    _cache: tuple[float, dict[str, dict[int, int]]] | None = None
    _readable: dict[str, frozenset[int]] | None = None

    def image(self) -> dict[str, dict[int, int]]:
        """The register image at the current model tick (encoded once per tick)."""
        if self._cache is None or self._cache[0] != self.model.now:
            self._cache = (self.model.now, encode(self.profile, self.values()))
        return self._cache[1]

    def sim_time(self) -> float:
        return (time.monotonic() - self.started) * self.speed

    def link_mode(self) -> str | None:
        self.model.advance_to(self.sim_time())
        step = self.model.active_step
        return step.link if step else None

    def values(self) -> dict[str, Any]:
        v = self.model.values()
        step = self.model.active_step
        if step is not None and step.fault is not None:
            for code, key in self.profile.fault_codes.items():
                if key == step.fault:
                    v["controller_fault"] = code
                    v["controller_fault_raw"] = code * 100
                    break
        return v

    def readable(self, table: str) -> frozenset[int]:
        """Addresses of ``table`` a read may touch: mapped ones and the short gaps between."""
        if self._readable is None:
            gap = self.profile.limits.max_gap_registers
            out: dict[str, frozenset[int]] = {}
            for name, words in self.image().items():
                mapped = sorted(words)
                spans = set(mapped)
                for a, b in itertools.pairwise(mapped):
                    if b - a - 1 <= gap:
                        spans.update(range(a + 1, b))
                out[name] = frozenset(spans)
            self._readable = out
        return self._readable[table]

    def read(self, table: str, address: int, count: int) -> list[int] | list[bool] | ExcCodes:
        self.requests[table] += 1
        self.model.advance_to(self.sim_time())
        self.model.note_read()
        if not set(range(address, address + count)) <= self.readable(table):
            self.requests["illegal_address"] += 1
            return ExcCodes.ILLEGAL_ADDRESS
        image = self.image()[table]
        words = [image.get(a, 0) for a in range(address, address + count)]
        if table in ("coil", "discrete_input"):
            return [bool(w) for w in words]
        return words


class ElevatorServerContext(ModbusServerContext):
    """A server context that serves :class:`SimulatedDevice` units; read-only."""

    def __init__(self, devices: Sequence[SimulatedDevice]) -> None:
        # Deliberately not calling super().__init__: it wants pymodbus datablocks.
        self.units = {d.unit_id: d for d in devices}
        self.old_simulator = True
        self.simdevices = []
        self._devices = {}

    def _unit(self, device_id: int) -> SimulatedDevice:
        unit = self.units.get(device_id)
        if unit is None or unit.link_mode() == "silent":
            raise NoSuchIdException(f"unit {device_id} is silent")
        return unit

    async def async_getValues(  # noqa: N802 - pymodbus' name
        self, device_id: int, func_code: int, address: int, count: int = 1
    ) -> list[int] | list[bool] | ExcCodes:
        unit = self._unit(device_id)
        step = unit.model.active_step
        if step is not None and step.link == "slow":
            await asyncio.sleep(step.reply_delay_ms / 1000)
        if unit.link_mode() == "exception":
            unit.requests["exception"] += 1
            return ExcCodes.DEVICE_FAILURE
        table = _TABLE_BY_FC.get(func_code)
        if table is None:
            return ExcCodes.ILLEGAL_FUNCTION
        return unit.read(table, address, count)

    async def async_setValues(  # noqa: N802 - pymodbus' name
        self, device_id: int, func_code: int, address: int, values: Any
    ) -> ExcCodes | None:
        self._unit(device_id)
        return ExcCodes.ILLEGAL_FUNCTION  # a simulated controller refuses writes too

    def device_ids(self) -> list[int]:
        return list(self.units)


def _crc16(data: bytes) -> bytes:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc.to_bytes(2, "little")


class _IllegalFunctionFix:
    """pymodbus 3.16 answers an unknown function code with function byte 0x80; a device
    answers ``fc | 0x80``. Remember the last request's code and put it back."""

    def __init__(self, rtu: bool) -> None:
        self._at = 1 if rtu else 7
        self._rtu = rtu
        self._fc = 0

    def __call__(self, sending: bool, data: bytes) -> bytes:
        at = self._at
        if len(data) <= at:
            return data
        if not sending:
            self._fc = data[at]
            return data
        if data[at] != 0x80 or not 0 < self._fc < 0x80:
            return data
        fixed = data[:at] + bytes([self._fc | 0x80]) + data[at + 1 :]
        return fixed[:-2] + _crc16(fixed[:-2]) if self._rtu else fixed


def _garbler(context: ElevatorServerContext, rtu: bool, seed: int = 7) -> Any:
    rng = random.Random(seed)
    fix = _IllegalFunctionFix(rtu)

    def trace_packet(sending: bool, data: bytes) -> bytes:
        data = fix(sending, data)
        if not sending or len(data) < 8:
            return data
        unit = context.units.get(data[0] if rtu else data[6])
        if unit is None or unit.link_mode() != "garbage":
            return data
        unit.requests["garbage"] += 1
        if rtu:
            # Flip a payload byte so the CRC fails, sometimes truncate or add noise.
            body = bytearray(data)
            body[2] ^= 0x5A
            choice = rng.random()
            if choice < 0.3:
                return bytes(body[: len(body) // 2])
            if choice < 0.5:
                return bytes(rng.randrange(256) for _ in range(5)) + bytes(body)
            return bytes(body)
        # TCP: keep the MBAP header (length) so the stream stays framed; scramble the PDU.
        head, pdu = data[:7], bytearray(data[7:])
        pdu[0] = rng.choice((0x00, 0x7F, 0x2B, pdu[0] | 0x80))
        if len(pdu) > 1:
            pdu[1] = rng.randrange(256)
        return head + bytes(pdu)

    return trace_packet


@dataclass
class RunningServer:
    server: Any
    context: ElevatorServerContext
    port: int = 0
    path: str = ""
    bridge: PtyBridge | None = None

    async def stop(self) -> None:
        await self.server.shutdown()
        if self.bridge is not None:
            self.bridge.close()


async def start_tcp(devices: Sequence[SimulatedDevice], host: str = "127.0.0.1",
                    port: int = 0) -> RunningServer:  # fmt: skip
    """Serve ``devices`` on TCP; ``port=0`` picks a free port (see ``.port``)."""
    context = ElevatorServerContext(devices)
    server = ModbusTcpServer(
        context, address=(host, port), ignore_missing_devices=True,
        trace_packet=_garbler(context, rtu=False),
    )  # fmt: skip
    await server.serve_forever(background=True)
    listener: Any = server.transport  # an asyncio.Server once listening
    bound = int(listener.sockets[0].getsockname()[1])
    return RunningServer(server, context, port=bound)


async def start_rtu(devices: Sequence[SimulatedDevice], serial_port: str,
                    baudrate: int = 9600) -> RunningServer:  # fmt: skip
    """Serve ``devices`` as RTU on ``serial_port`` (a real port or a pty path)."""
    context = ElevatorServerContext(devices)
    server = ModbusSerialServer(
        context, framer=FramerType.RTU, port=serial_port, baudrate=baudrate,
        ignore_missing_devices=True, trace_packet=_garbler(context, rtu=True),
    )  # fmt: skip
    await server.serve_forever(background=True)
    return RunningServer(server, context, path=serial_port)


class PtyBridge:
    """Two pseudo-terminals joined back to back: a null-modem cable in software.

    The server opens ``server_path``, the client ``client_path``; bytes written on one
    come out of the other (what ``socat pty,raw pty,raw`` does).
    """

    def __init__(self) -> None:
        self._fds: list[int] = []
        self._masters: list[int] = []
        paths = []
        for _ in range(2):
            master, slave = os.openpty()
            tty.setraw(slave)
            os.set_blocking(master, False)
            self._fds += [master, slave]
            self._masters.append(master)
            paths.append(os.ttyname(slave))
        self.server_path, self.client_path = paths
        loop = asyncio.get_running_loop()
        a, b = self._masters
        loop.add_reader(a, self._pump, a, b)
        loop.add_reader(b, self._pump, b, a)

    @staticmethod
    def _pump(src: int, dst: int) -> None:
        try:
            data = os.read(src, 4096)
        except OSError:
            return
        if data:
            # A full pty buffer drops bytes, as a real line would.
            with contextlib.suppress(BlockingIOError):
                os.write(dst, data)

    def close(self) -> None:
        loop = asyncio.get_running_loop()
        for fd in self._masters:
            loop.remove_reader(fd)
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()


async def start_rtu_pty(devices: Sequence[SimulatedDevice]) -> RunningServer:
    """RTU over a pty pair; clients open ``.path`` (the other end of the bridge)."""
    bridge = PtyBridge()
    running = await start_rtu(devices, bridge.server_path)
    running.bridge = bridge
    running.path = bridge.client_path
    return running


def make_devices(profile: Profile, scenarios: Sequence[Scenario], *, first_unit: int = 1,
                 speed: float = 1.0, seed: int = 1) -> list[SimulatedDevice]:  # fmt: skip
    """One simulated unit per scenario, unit ids counting up from ``first_unit``."""
    devices = []
    for i, scenario in enumerate(scenarios):
        model = ElevatorModel(scenario, seed=seed + i)
        devices.append(SimulatedDevice(first_unit + i, profile, model, speed=speed))
    return devices
