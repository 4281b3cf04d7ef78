"""What the peer benchmark needs from a gateway, and edge-agent's own adapter.

An adapter owns one gateway's throwaway venv (bench/peers/venvs.py), writes its config
for the bench's bus and broker, says how to start it, and reads its MQTT messages back
into the bench's terms: which (unit, floor) values a message carries, how many register
points, and an identity per point so a drain's losses and duplicates can be counted.
edge-agent runs from its own venv too, installed from this checkout with the ``modbus``
extra only, as an installer would have it (the project's venv has every extra).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.peers import venvs
from bench.peers.sim import PROFILE, UNITS

REPO = Path(__file__).resolve().parents[2]
POLL_S = 1.0


@dataclass
class Reading:
    """What one MQTT message carried, in the bench's terms."""

    floors: list[tuple[int, int]] = field(default_factory=list)
    points: int = 0
    ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Setup:
    """Where a gateway instance runs and what it talks to."""

    run_dir: Path
    broker_port: int
    modbus_port: int
    tag: str  # unique per start, so retained or queued messages of a previous one differ


class Gateway:
    """Base adapter; subclasses fill in every method."""

    name = ""
    label = ""
    buffer: str | None = None  # "outbox" (on disk), "memory", or None (drops while offline)

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self.python = Path()
        self.version = ""

    def install(self) -> None:
        raise NotImplementedError

    def configure(self, s: Setup) -> list[Path]:
        """Write the config for ``s``; returns the files a user would maintain."""
        raise NotImplementedError

    def argv(self, s: Setup) -> list[str]:
        raise NotImplementedError

    def env(self, s: Setup) -> dict[str, str]:
        return {}

    def read(self, topic: str, payload: bytes) -> Reading | None:
        """None for a message that is not register data (status, stats, connect)."""
        raise NotImplementedError

    def log_files(self, s: Setup) -> list[Path]:
        return [s.run_dir / "stdout.log"]


def unit_of(name: str) -> int:
    match = re.search(r"(\d+)$", name)
    return int(match.group(1)) if match else 0


class EdgeAgent(Gateway):
    name = "edge-agent"
    label = "edge-agent"
    buffer = "outbox"

    def install(self) -> None:
        self.python = venvs.ensure(self.cache, "edge-agent", [f"{REPO}[modbus]"], fresh=True)
        self.version = venvs.version(self.python, "edge-agent")

    def gateway_id(self, s: Setup) -> str:
        return f"gw-{s.tag}"

    def config_doc(self, s: Setup) -> dict[str, Any]:
        # Both poll groups at 1 s: every gateway reads all 24 points every second.
        periods = {"fast": int(POLL_S * 1000), "slow": int(POLL_S * 1000)}
        devices = [
            {"id": f"lift-{u}", "unit_id": u, "profile": PROFILE, "poll_periods_ms": periods}
            for u in range(1, UNITS + 1)
        ]
        return {
            "gateway": {"id": self.gateway_id(s)},
            "mqtt": {"host": "127.0.0.1", "port": s.broker_port, "insecure": True},
            "buffer": {"path": str(s.run_dir / "state" / "buffer.db")},
            "drivers": [
                {
                    "name": "lifts",
                    "kind": "modbus",
                    "host": "127.0.0.1",
                    "port": s.modbus_port,
                    "devices": devices,
                }
            ],
        }

    def configure(self, s: Setup) -> list[Path]:
        path = s.run_dir / "agent.yaml"
        path.write_text(yaml.safe_dump(self.config_doc(s), sort_keys=False))
        return [path]

    def argv(self, s: Setup) -> list[str]:
        return [str(self.python), "-m", "agent", "run", "--config", str(s.run_dir / "agent.yaml")]

    def read(self, topic: str, payload: bytes) -> Reading | None:
        if not topic.startswith("edge/") or topic.endswith("/status"):
            return None
        try:
            event = json.loads(payload)
        except ValueError:
            return None
        kind = event.get("type")
        if kind == "bench.backlog":
            return Reading(points=1, ids=[str(event["data"]["n"])])
        if kind != "elevator.status":
            return None
        unit = unit_of(str(event.get("subject", "")))
        floor = event.get("data", {}).get("floor")
        floors = [(unit, int(floor))] if isinstance(floor, int) else []
        return Reading(floors=floors, points=1, ids=[str(event.get("id"))])
