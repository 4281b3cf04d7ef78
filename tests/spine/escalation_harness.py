"""Real components for the receipt and escalation tests: a pymodbus server standing in
for a siren's relay box (counting coil writes), the modem simulator as its own process on
a pty, a platform client that publishes receipts, and the agent's config for them."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from pymodbus.constants import ExcCodes
from pymodbus.datastore import ModbusServerContext
from pymodbus.exceptions import NoSuchIdException
from pymodbus.server import ModbusTcpServer

from tests.broker import Mosquitto, Subscriber, free_port
from tests.shared_data import REPO
from tests.spine.agentproc import wait_for

NUMBER = "+8613800138000"
SIREN_UNIT, SIREN_COIL = 3, 16


class _SirenContext(ModbusServerContext):
    """Unit 3 only; records every write (function code, address, values)."""

    def __init__(self, writes: list[tuple[int, int, list[Any]]]) -> None:
        # Not calling super().__init__ (it wants datablocks), as the elevator simulator.
        self.writes = writes
        self.coils = [False] * 64
        self.old_simulator = True
        self.simdevices = []
        self._devices = {}

    async def async_getValues(  # noqa: N802 - pymodbus' name
        self, device_id: int, func_code: int, address: int, count: int = 1
    ) -> list[bool] | ExcCodes:
        if device_id != SIREN_UNIT:
            raise NoSuchIdException(f"unit {device_id}")
        return self.coils[address : address + count]

    async def async_setValues(  # noqa: N802 - pymodbus' name
        self, device_id: int, func_code: int, address: int, values: Any
    ) -> ExcCodes | None:
        if device_id != SIREN_UNIT:
            raise NoSuchIdException(f"unit {device_id}")
        vals = list(values) if isinstance(values, list | tuple) else [values]
        self.writes.append((func_code, address, vals))
        if func_code in (5, 15):
            for i, v in enumerate(vals):
                self.coils[address + i] = bool(v)
        return None

    def device_ids(self) -> list[int]:
        return [SIREN_UNIT]


@dataclass
class SirenBox:
    """A Modbus TCP relay box with the siren on unit 3, coil 16, in a thread of its own."""

    port: int = field(default_factory=free_port)
    writes: list[tuple[int, int, list[Any]]] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None

    def start(self) -> SirenBox:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop

            async def start() -> ModbusTcpServer:
                context = _SirenContext(self.writes)
                server = ModbusTcpServer(
                    context, address=("127.0.0.1", self.port), ignore_missing_devices=True
                )
                await server.serve_forever(background=True)
                return server

            server = loop.run_until_complete(start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(server.shutdown())
            loop.close()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        assert ready.wait(10)
        return self

    def siren_writes(self) -> list[list[Any]]:
        """Values written to the siren's coil (function code 5, write single coil)."""
        return [v for fc, a, v in list(self.writes) if fc == 5 and a == SIREN_COIL]

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)


@dataclass
class ModemProcess:
    """``edge-agent simulate modem`` in its own process; its log holds the sent SMS."""

    workdir: Path
    scenario: str = "normal"
    extra: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def link(self) -> Path:
        return self.workdir / "modem"

    @property
    def log(self) -> Path:
        return self.workdir / "sms.jsonl"

    def start(self) -> ModemProcess:
        self.link.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "simulate", "modem", "--link", str(self.link),
             "--log", str(self.log), "--scenario", self.scenario, *self.extra],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        assert wait_for(self.link.exists, 20)
        return self

    def sent(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None
        self.link.unlink(missing_ok=True)  # as an unplugged modem's device node goes


class Platform:
    """Publishes receipts as the central platform does (QoS 1)."""

    def __init__(self, port: int) -> None:
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="platform-receipts", protocol=mqtt.MQTTv5
        )
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()

    def receipt(self, gateway: str, event_id: str, stage: str = "stored") -> None:
        doc = {"id": event_id, "stage": stage, "by": "op-7f3a"}
        info = self._client.publish(f"edge/{gateway}/receipts", json.dumps(doc), qos=1)
        info.wait_for_publish(10)

    def raw(self, topic: str, payload: bytes) -> None:
        self._client.publish(topic, payload, qos=1).wait_for_publish(10)

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


def sos(name: str, **extra: Any) -> dict[str, Any]:
    """A synthetic SOS alarm (one, at start; type synthetic.alarm, data.key SOS)."""
    return {"name": name, "kind": "synthetic", "count": 1, "rate_hz": 1.0,
            "priority": "alarm", "event_type": "synthetic.alarm", "key": "SOS",
            "severity": "critical", **extra}  # fmt: skip


def wearables(link: Path) -> dict[str, Any]:
    """The serial driver on the wearable simulator's pty: one bracelet, band-1."""
    return {"name": "wear", "kind": "serial", "port": str(link), "codec": "bracelet",
            "time_speed": 10,
            "devices": [{"id": "band-1", "resident": "r0001", "frame_id": "00000001"}]}  # fmt: skip


def siren_bus(box: SirenBox) -> dict[str, Any]:
    return {"name": "siren-box", "kind": "modbus", "port": box.port, "request_timeout_ms": 500,
            "outputs": {"siren": {"coil": SIREN_COIL, "unit_id": SIREN_UNIT}}}  # fmt: skip


def receipts_section(modem: ModemProcess | None, *, outputs: bool = True,
                     **overrides: Any) -> dict[str, Any]:  # fmt: skip
    escalation: dict[str, Any] = {
        "community": "临汾路小区",
        "locations": {"sos-b": "3号楼2单元", "sos-1": "3号楼2单元", "band-1": "3号楼2单元"},
        "retry_base_s": 0.5,
        "retry_max_s": 4.0,
    }
    if modem is not None:
        escalation["sms"] = {"port": str(modem.link), "numbers": [NUMBER], "timeout_s": 5.0,
                             "per_number_interval_s": 0}  # fmt: skip
    if outputs:
        escalation["outputs"] = ["siren"]
    doc = {
        "classes": [{"type": "resident.alarm", "min_severity": "critical"},
                    {"type": "synthetic.alarm", "min_severity": "critical"},
                    {"type": "elevator.alarm"}],
        "reannounce_s": 2,
        "escalate_after_s": 3,
        "escalation": escalation,
    }  # fmt: skip
    doc.update(overrides)
    return doc


class PersistentMosquitto(Mosquitto):
    """A broker that keeps sessions across a clean restart (persistence on), so the
    platform's subscriber misses nothing published while it reconnects."""

    def config_text(self) -> str:
        text = super().config_text().replace("persistence false", "persistence true")
        return f"persistence_location {self.workdir}/\n" + text


class PlatformSubscriber(Subscriber):
    """Like tests.broker.Subscriber, with a persistent session and quick reconnects."""

    def __init__(self, port: int, topic: str = "edge/#") -> None:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        self.messages = []
        self._lock = threading.Lock()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="platform-persistent", protocol=mqtt.MQTTv5
        )
        self._client.on_message = self._on_message
        self._subscribed = threading.Event()
        self._client.on_subscribe = lambda *a: self._subscribed.set()
        self._client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
        self._client.reconnect_delay_set(1, 2)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        self._client.connect("127.0.0.1", port, clean_start=False, properties=props)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("subscriber did not subscribe")
