"""A real Mosquitto broker on a free loopback port, and a real paho subscriber.

Started by the tests (the Debian ``mosquitto`` package must be installed; .ci/run does).
"""

from __future__ import annotations

import json
import random
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.contract_check import watch

# Ports are drawn from below the kernel's ephemeral range (32768-60999 on Linux), never
# from it: a port asked of the kernel with bind(0) is an ephemeral one, and while a test
# holds it unbound (a broker that starts later, or restarts), any outgoing connection on
# the machine -- the agent's own reconnect attempts, the soak running beside the suite --
# may be given it as its source port, and the broker then fails to bind. CI saw exactly
# that once ("nothing listening" from a broker that had exited with EADDRINUSE).
_PORTS = (20000, 32767)


def free_port() -> int:
    """A loopback port nothing is bound to now, outside the ephemeral range."""
    for _ in range(200):
        port = random.randint(*_PORTS)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port in {_PORTS}")


def wait_port(
    port: int, timeout: float = 10.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Until something accepts on ``port``; fails at once if ``proc`` (the server) exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server for 127.0.0.1:{port} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port}")


def wait_port_closed(port: int, timeout: float = 10.0) -> None:
    """Until nothing accepts on ``port`` any more (a server that was told to stop)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                pass
        except OSError:
            return
        time.sleep(0.05)
    raise TimeoutError(f"127.0.0.1:{port} still accepts connections")


@dataclass
class Mosquitto:
    """One broker process; ``extra`` lines go into its listener section."""

    workdir: Path
    port: int = field(default_factory=free_port)
    extra: list[str] = field(default_factory=list)
    acl: str | None = None
    proc: subprocess.Popen[bytes] | None = None

    def config_text(self) -> str:
        lines = [
            "per_listener_settings true",
            "persistence false",
            "user root",
            # Mosquitto's default (1000) drops QoS 1 messages to a subscriber that falls
            # behind a drained backlog on a loaded machine; the gateway had them
            # acknowledged, so a test would count them lost. The central platform our
            # Subscriber stands in for keeps up; the agent is what is under test. Not 0
            # ("no limit"): Debian's 2.0.11 then closes the connection right after the
            # PUBACK 0x87 of an ACL-denied publish (seen in tests/spine/test_faults.py).
            "max_queued_messages 1000000",
            f"listener {self.port} 127.0.0.1",
        ]
        lines += self.extra or ["allow_anonymous true"]
        if self.acl is not None:
            acl_file = self.workdir / "acl"
            acl_file.write_text(self.acl)
            lines.append(f"acl_file {acl_file}")
        return "\n".join(lines) + "\n"

    def start(self) -> Mosquitto:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        conf = self.workdir / f"mosquitto-{self.port}.conf"
        conf.write_text(self.config_text())
        with (self.workdir / f"mosquitto-{self.port}.log").open("ab") as log:
            # The child keeps its own copy of the descriptor; ours closes here.
            self.proc = subprocess.Popen([binary, "-c", str(conf), "-v"], stdout=log, stderr=log)
        try:
            wait_port(self.port, proc=self.proc)
        except (TimeoutError, RuntimeError) as exc:
            self.stop()
            raise RuntimeError(f"{exc}; mosquitto log:\n{self.log_text()[-2000:]}") from exc
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log_text(self) -> str:
        path = self.workdir / f"mosquitto-{self.port}.log"
        return path.read_text(errors="replace") if path.exists() else ""


class Subscriber:
    """Collects every message under a topic filter, like the central platform would."""

    def __init__(
        self,
        port: int,
        topic: str = "edge/#",
        *,
        client_id: str = "platform",
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        # Every message is checked against the platform contract when the test ends.
        self._checked = 0
        watch(self._unchecked)
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        if username is not None:  # a broker that wants one (tests/ejabberd.py)
            self._client.username_pw_set(username, password)
        self._client.on_message = self._on_message
        self._subscribed = threading.Event()
        self._client.on_subscribe = lambda *a: self._subscribed.set()
        self._client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("subscriber did not subscribe")

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def _unchecked(self) -> list[tuple[str, bytes]]:
        with self._lock:
            fresh = self.messages[self._checked :]
            self._checked = len(self.messages)
        return [(topic, payload) for topic, payload, _ in fresh]

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            msgs = list(self.messages)
        return [json.loads(p) for t, p, _ in msgs if "/events/" in t or "/telemetry/" in t]

    def on_topic(self, suffix: str) -> list[bytes]:
        with self._lock:
            return [p for t, p, _ in self.messages if t.endswith(suffix)]

    def wait(self, predicate: Any, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(0.1)
        return bool(predicate(self))

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()
