"""Run the real agent as a child process (``python -m agent run``) for end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.shared_data import REPO


def synthetic(
    count: int, rate_hz: float, priority: str = "event", name: str = "synth", **extra: Any
) -> dict[str, Any]:
    """A ``synthetic`` driver entry."""
    return {
        "name": name,
        "kind": "synthetic",
        "count": count,
        "rate_hz": rate_hz,
        "priority": priority,
        **extra,
    }


def write_config(
    path: Path,
    *,
    port: int,
    buffer: Path,
    drivers: list[dict[str, Any]],
    gateway: str = "gw-0001",
    mqtt: dict[str, Any] | None = None,
    **sections: dict[str, Any] | None,
) -> Path:
    """``buffer_extra`` adds keys to the buffer section, ``extra`` adds top-level keys."""
    buffer_extra = sections.pop("buffer_extra", None)
    extra = sections.pop("extra", None)
    if sections:
        raise TypeError(f"write_config: unknown arguments {sorted(sections)}")
    doc: dict[str, Any] = {
        "gateway": {"id": gateway, "site": "test-site"},
        "mqtt": mqtt
        or {
            "host": "127.0.0.1",
            "port": port,
            "insecure": True,
            "reconnect_max_s": 2.0,
            "timeout_s": 5.0,
        },
        "buffer": {"path": str(buffer), **(buffer_extra or {})},
        "drivers": drivers,
        "supervisor": {"restart_base_s": 0.2, "restart_max_s": 2.0, "healthy_after_s": 5.0},
        **(extra or {}),
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


class AgentProcess:
    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log_path = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> AgentProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "agent", "run", "--config", str(self.config)],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def terminate(self, timeout: float = 15.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` passes; its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def cli_json(*args: str) -> Any:
    """``python -m agent ARGS --json``, its output parsed (a non-zero exit raises)."""
    out = subprocess.run(
        [sys.executable, "-m", "agent", *args, "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def buffer_stats(config: Path) -> dict[str, Any]:
    """``edge-agent buffer stats --json`` for the outbox of ``config``."""
    stats: dict[str, Any] = cli_json("buffer", "stats", "--config", str(config))
    return stats
