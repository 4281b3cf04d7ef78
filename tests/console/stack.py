"""A real agent with the console on, for the console's browser and security tests."""

from __future__ import annotations

import json
import re
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.console.auth import hash_password
from tests.broker import free_port
from tests.shared_data import REPO
from tests.spine.agentproc import AgentProcess, wait_for, write_config

PASSWORD = "correct horse battery"
ARTIFACTS = REPO / "test-artifacts" / "console"


@dataclass
class ConsoleAgent:
    agent: AgentProcess
    base: str
    config: Path

    def stop(self) -> None:
        if self.agent.alive():
            self.agent.terminate()


def start_console_agent(
    tmp: Path,
    broker_port: int,
    drivers: list[dict[str, Any]],
    tls: ssl.SSLContext | None = None,
    **console: Any,
) -> ConsoleAgent:
    """``tls``: serve HTTPS (console ``tls: true``) and check readiness with this context."""
    port = free_port()
    section = {"listen": f"127.0.0.1:{port}", "password_hash": hash_password(PASSWORD), **console}
    cfg = write_config(
        tmp / "config.yaml",
        port=broker_port,
        buffer=tmp / "outbox.db",
        drivers=drivers,
        extra={"console": section},
    )
    if tls is not None:
        section["tls"] = True
        write_config(cfg, port=broker_port, buffer=tmp / "outbox.db", drivers=drivers,
                     extra={"console": section})  # fmt: skip
    agent = AgentProcess(cfg, tmp / "agent.log").start()
    base = f"{'https' if tls else 'http'}://127.0.0.1:{port}"

    def listening() -> bool:
        try:
            with urllib.request.urlopen(base + "/login", timeout=1, context=tls):
                return True
        except OSError:
            return False

    if not wait_for(listening, 60):
        agent.terminate()
        raise AssertionError("console did not come up:\n" + agent.log()[-3000:])
    return ConsoleAgent(agent, base, cfg)


def request(
    base: str,
    path: str,
    *,
    method: str = "GET",
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One plain HTTP request (no cookie jar): status, headers, body."""
    data = None if body is None else json.dumps(body).encode()
    hdrs = {"Content-Type": "application/json"} if body is not None else {}
    hdrs.update(headers or {})
    req = urllib.request.Request(base + path, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def login(base: str) -> tuple[str, str]:
    """Log in; the session cookie header value and the CSRF token."""
    status, headers, body = request(base, "/api/login", method="POST", body={"password": PASSWORD})
    assert status == 200, body
    cookie = headers["Set-Cookie"].split(";", 1)[0]
    return cookie, json.loads(body)["csrf"]


def start_elevator_simulator(*units: str, speed: float) -> tuple[subprocess.Popen[str], int]:
    args = [sys.executable, "-m", "agent", "simulate", "elevator", "--port", "0",
            "--speed", str(speed)]  # fmt: skip
    for unit in units:
        args += ["--unit", unit]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"TCP on 127\.0\.0\.1:(\d+)", line)
    if not match:
        proc.terminate()
        raise AssertionError(f"simulator did not start: {line!r}")
    return proc, int(match.group(1))


def start_wearable_simulator(link: Path, devices: int, speed: float) -> subprocess.Popen[str]:
    """``simulate wearable`` on a pty reachable at ``link`` (bracelets 1..devices)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", "simulate", "wearable", "--link", str(link),
         "--devices", str(devices), "--speed", str(speed), "--duration", "360000"],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != str(link):
        proc.terminate()
        raise AssertionError("wearable simulator did not start")
    return proc
