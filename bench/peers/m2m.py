"""modbus2mqtt (PyPI ``modbus2mqtt``) as the peer benchmark runs it.

Its config is a CSV (modbus2mqtt.py ``async_main``: ``type,topic,col2,...``): one
``poll`` row per unit reading the profile's 28 holding registers in one request every
second, and one ``ref`` row per point (24, the same points and types as the profile;
``uint32BE`` for the two-word counters). Settings are its defaults (publish on change,
1 s Modbus timeout, 10 ms loop break); it publishes each value as a retained QoS 0
message on ``<prefix><unit>/state/<point>`` and keeps nothing while the broker is away.
"""

from __future__ import annotations

import csv
from pathlib import Path

from bench.peers import venvs
from bench.peers.gateway import POLL_S, Gateway, Reading, Setup, unit_of
from bench.peers.sim import PROFILE, UNITS
from drivers.modbus.profile import load_profile

VERSION = "0.73"
# It does not pin pymodbus, and pip picks the newest (3.16.1), whose read calls no longer
# take ``slave=``: every read then fails ("read_holding_registers() got an unexpected
# keyword argument 'slave'"). 3.9.2 is the one ThingsBoard's connector pins too.
REQUIREMENTS = [f"modbus2mqtt=={VERSION}", "pymodbus==3.9.2"]
_TYPES = {"u16": "uint16", "i16": "int16", "u32": "uint32BE", "i32": "int32BE"}


class Modbus2Mqtt(Gateway):
    name = "modbus2mqtt"
    label = "modbus2mqtt"
    buffer = None

    def install(self) -> None:
        self.python = venvs.ensure(self.cache, "modbus2mqtt", REQUIREMENTS)
        self.version = venvs.version(self.python, "modbus2mqtt")

    def prefix(self, s: Setup) -> str:
        return f"modbus-{s.tag}/"

    def configure(self, s: Setup) -> list[Path]:
        profile = load_profile(PROFILE)
        points = [p for p in profile.points if p.table == "holding"]
        size = max(p.address + (2 if p.type in ("u32", "i32") else 1) for p in points)
        rows = [["type", "topic", "col2", "col3", "col4", "col5", "col6"]]
        for unit in range(1, UNITS + 1):
            rows.append(["poll", f"lift-{unit}", str(unit), "0", str(size),
                         "holding_register", str(POLL_S)])  # fmt: skip
            for p in points:
                scale = "" if p.scale == 1 else str(p.scale)
                rows.append(["ref", p.key, str(p.address), "r", _TYPES.get(p.type, "uint16"),
                             scale, ""])  # fmt: skip
        path = s.run_dir / "modbus2mqtt.csv"
        with path.open("w", newline="") as out:
            csv.writer(out).writerows(rows)
        return [path]

    def argv(self, s: Setup) -> list[str]:
        return [
            str(self.python), "-u", "-m", "modbus2mqtt",
            "--config", str(s.run_dir / "modbus2mqtt.csv"),
            "--tcp", "127.0.0.1", "--tcp-port", str(s.modbus_port),
            "--mqtt-host", "127.0.0.1", "--mqtt-port", str(s.broker_port),
            "--mqtt-topic", self.prefix(s),
        ]  # fmt: skip

    def read(self, topic: str, payload: bytes) -> Reading | None:
        if not topic.startswith("modbus-") or "/state/" not in topic:
            return None
        device, _, point = topic.split("/", 1)[1].partition("/state/")
        if point.startswith("diagnostics"):
            return None
        unit = unit_of(device)
        floors: list[tuple[int, int]] = []
        if point == "floor":
            try:
                floors = [(unit, int(float(payload)))]
            except ValueError:
                floors = []
        return Reading(floors=floors, points=1, ids=[f"{device}/{point}={payload!r}"])
