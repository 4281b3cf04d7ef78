"""ThingsBoard IoT Gateway (PyPI ``thingsboard-gateway``) as the peer benchmark runs it.

Started as its ``thingsboard-gateway`` entry point does (``tb_gateway.main``) with
``TB_GW_CONFIG_DIR`` pointing at a copy of its shipped ``config/`` directory, in which the
bench rewrites two files: ``tb_gateway.json`` (the shipped one, with the broker's host and
port, ``remoteConfiguration`` off because there is no ThingsBoard server to send it, and
everything else as shipped: memory storage, QoS 1, report strategy ON_RECEIVED) and
``modbus.json`` (the shipped example's layout: one slave per unit, 24 ``timeseries``
entries, the profile's points and types, ``pollPeriod`` 1000 ms). It talks the
ThingsBoard gateway MQTT API, so a plain Mosquitto serves it: data arrives on
``v1/gateway/telemetry`` as ``{device: [{"ts": ms, "values": {...}}]}``. Its Modbus
connector pins pymodbus 3.9.2 and installs it at first start when missing; the bench
installs it with the gateway so no start pays for pip.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from bench.peers import venvs
from bench.peers.gateway import POLL_S, Gateway, Reading, Setup, unit_of
from bench.peers.sim import PROFILE, UNITS
from drivers.modbus.profile import load_profile

VERSION = "3.8.5"
REQUIREMENTS = [
    f"thingsboard-gateway=={VERSION}", "pymodbus==3.9.2", "pyserial", "pyserial-asyncio",
]  # fmt: skip
_TYPES = {"u16": ("16uint", 1), "i16": ("16int", 1), "u32": ("32uint", 2), "i32": ("32int", 2)}
_START = "from thingsboard_gateway.tb_gateway import main; main()"


class ThingsBoard(Gateway):
    name = "thingsboard-gateway"
    label = "ThingsBoard IoT Gateway"
    buffer = "memory"

    def install(self) -> None:
        self.python = venvs.ensure(self.cache, "thingsboard-gateway", REQUIREMENTS)
        self.version = venvs.version(self.python, "thingsboard-gateway")

    def _shipped(self) -> Path:
        site = next((self.python.parent.parent / "lib").glob("python*/site-packages"))
        return site / "thingsboard_gateway" / "config"

    def _slave(self, s: Setup, unit: int) -> dict[str, Any]:
        series = []
        for p in load_profile(PROFILE).points:
            kind, count = _TYPES.get(p.type, ("16uint", 1))
            entry: dict[str, Any] = {"tag": p.key, "type": kind, "functionCode": 3,
                                     "objectsCount": count, "address": p.address}  # fmt: skip
            if p.scale != 1:
                entry["multiplier"] = p.scale
            series.append(entry)
        return {
            "host": "127.0.0.1", "port": s.modbus_port, "type": "tcp", "method": "socket",
            "unitId": unit, "deviceName": f"lift-{unit}", "deviceType": "elevator",
            "timeout": 35, "byteOrder": "BIG", "wordOrder": "BIG", "retries": 3,
            "retryOnEmpty": True, "retryOnInvalid": True, "pollPeriod": int(POLL_S * 1000),
            "connectAttemptTimeMs": 5000, "connectAttemptCount": 5,
            "waitAfterFailedAttemptsMs": 300000, "attributes": [], "timeseries": series,
            "attributeUpdates": [], "rpc": [],
        }  # fmt: skip

    def configure(self, s: Setup) -> list[Path]:
        config = s.run_dir / "config"
        shutil.copytree(self._shipped(), config, dirs_exist_ok=True)
        main = json.loads((self._shipped() / "tb_gateway.json").read_text())
        main["thingsboard"].update(
            host="127.0.0.1", port=s.broker_port, remoteConfiguration=False,
            security={"type": "accessToken", "accessToken": f"bench-{s.tag}"},
        )  # fmt: skip
        main["connectors"] = [{"type": "modbus", "name": "Modbus", "configuration": "modbus.json"}]
        (config / "tb_gateway.json").write_text(json.dumps(main, indent=2))
        slaves = [self._slave(s, u) for u in range(1, UNITS + 1)]
        (config / "modbus.json").write_text(json.dumps({"master": {"slaves": slaves}}, indent=2))
        return [config / "tb_gateway.json", config / "modbus.json", config / "logs.json"]

    def argv(self, s: Setup) -> list[str]:
        return [str(self.python), "-u", "-c", _START]

    def env(self, s: Setup) -> dict[str, str]:
        return {"TB_GW_CONFIG_DIR": str(s.run_dir / "config")}

    def log_files(self, s: Setup) -> list[Path]:
        return [s.run_dir / "stdout.log", *sorted((s.run_dir / "logs").glob("*.log"))]

    def read(self, topic: str, payload: bytes) -> Reading | None:
        if topic != "v1/gateway/telemetry":
            return None
        try:
            doc = json.loads(payload)
        except ValueError:
            return None
        out = Reading()
        for device, entries in doc.items():
            unit = unit_of(device)
            for entry in entries if isinstance(entries, list) else [entries]:
                values = entry.get("values", entry)
                out.points += len(values)
                out.ids.append(f"{device}@{entry.get('ts')}")
                if isinstance(values.get("floor"), int | float):
                    out.floors.append((unit, int(values["floor"])))
        return out
