"""The peer benchmark's bus: 10 ``gb-monitor-box`` units on one loopback Modbus TCP server.

The register image is the shipped profile's own encoding (drivers/modbus/simulator/
encode.py) of a lift parked at floor 1, so every gateway reads the same words. Unlike
``edge-agent simulate`` the bench changes registers itself, at known instants (a floor
register, one unit at a time), which is what the latency and outage figures are measured
against; it also counts requests per unit and can make a configured unit silent (no
reply, as a powered-off box on a TCP gateway). The server runs on its own thread and
event loop inside the runner, so its CPU is never charged to a gateway.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.datastore import ModbusServerContext
from pymodbus.exceptions import NoSuchIdException
from pymodbus.server import ModbusTcpServer

from drivers.modbus.profile import load_profile
from drivers.modbus.simulator.encode import encode

PROFILE = "gb-monitor-box"
UNITS = 10
FLOOR_ADDRESS = 0x0005
_PARKED: dict[str, Any] = {
    "protocol_version": 1, "heartbeat": 0, "service_mode": "normal", "running": False,
    "direction": "none", "floor": 1, "door_zone": True, "door": "closed",
    "passenger": False, "speed_mps": 0.0, "load_pct": 0, "power_on_mains": True,
    "safety_circuit_ok": True, "door_lock_circuit_ok": True, "active_events": 0,
    "controller_fault": 0, "controller_subcode": 0, "run_count": 1000, "run_hours": 10,
    "door_cycles": 500, "alarm_button": False, "top_floor": 20, "bottom_floor": 1,
    "rated_speed_mps": 1.75,
}  # fmt: skip


@dataclass(frozen=True)
class Change:
    """One register write the bench made: which unit, the new floor, when (monotonic)."""

    unit: int
    floor: int
    at: float


@dataclass
class BusState:
    """Registers per unit, request counters and the silent set; shared with the loop."""

    words: dict[int, dict[int, int]]
    requests: Counter[int] = field(default_factory=Counter)
    silent: set[int] = field(default_factory=set)
    changes: list[Change] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Context(ModbusServerContext):
    def __init__(self, state: BusState) -> None:
        # Not calling super().__init__: it wants pymodbus datablocks (as the simulator).
        self.state = state
        self.old_simulator = True
        self.simdevices = []
        self._devices = {}

    async def async_getValues(  # noqa: N802 - pymodbus' name
        self, device_id: int, func_code: int, address: int, count: int = 1
    ) -> list[int] | list[bool] | ExcCodes:
        state = self.state
        with state.lock:
            if device_id not in state.words or device_id in state.silent:
                raise NoSuchIdException(f"unit {device_id} is silent")
            state.requests[device_id] += 1
            if func_code != 3:
                return ExcCodes.ILLEGAL_FUNCTION
            image = state.words[device_id]
            if address + count > max(image) + 1:
                return ExcCodes.ILLEGAL_ADDRESS
            return [image.get(a, 0) for a in range(address, address + count)]

    async def async_setValues(  # noqa: N802 - pymodbus' name
        self, device_id: int, func_code: int, address: int, values: Any
    ) -> ExcCodes | None:
        return ExcCodes.ILLEGAL_FUNCTION

    def device_ids(self) -> list[int]:
        return list(self.state.words)


class Bus:
    """The server thread; ``change`` moves one unit's floor, ``requests`` reads counters."""

    def __init__(self, port: int) -> None:
        image = encode(load_profile(PROFILE), _PARKED)["holding"]
        self.register_count = max(image) + 1
        self.state = BusState({u: dict(image) for u in range(1, UNITS + 1)})
        self.port = port
        self._floors = dict.fromkeys(range(1, UNITS + 1), 1)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="bench-bus")
        self._thread.start()
        if not self._ready.wait(15):
            raise RuntimeError("bench Modbus server did not start")

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            self._server = ModbusTcpServer(
                _Context(self.state), address=("127.0.0.1", self.port), ignore_missing_devices=True
            )
            await self._server.serve_forever(background=True)
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    def change(self, unit: int) -> Change:
        """Move ``unit`` one floor (2..20, wrapping), stamped with the write's instant."""
        floor = self._floors[unit] % 19 + 2
        self._floors[unit] = floor
        with self.state.lock:
            self.state.words[unit][FLOOR_ADDRESS] = floor
            change = Change(unit, floor, time.monotonic())
            self.state.changes.append(change)
        return change

    def requests(self) -> Counter[int]:
        with self.state.lock:
            return Counter(self.state.requests)

    def set_silent(self, units: set[int]) -> None:
        with self.state.lock:
            self.state.silent = set(units)

    def close(self) -> None:
        async def stop() -> None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
