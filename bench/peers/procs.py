"""Processes and the platform's side of the peer benchmark: a gateway process tree's CPU
and RSS from /proc, and a subscriber that stamps every message as it arrives.

CPU and RSS are summed over the gateway's process tree (a gateway that forks helpers is
charged for them). After a broker restart the bench reconnects its subscriber at once
(``back``), before any gateway's own retry can publish into a broker nobody listens on.
It also plays the ThingsBoard server's one part a ThingsBoard gateway waits for: the
answer to its session-limits request.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bench.peers.gateway import Gateway, Setup
from tests.spine.agentproc import wait_for

REPO = Path(__file__).resolve().parents[2]
_TB_RPC = "v1/devices/me/rpc/request/"


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo += _children(p)
    return pids


def cpu_s(pid: int) -> float:
    total = 0.0
    for p in tree(pid):
        try:
            stat = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    return total


def rss_mb(pid: int) -> float:
    total = 0
    for p in tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def start(gw: Gateway, s: Setup) -> subprocess.Popen[bytes]:
    env = {**os.environ, **gw.env(s), "PYTHONUNBUFFERED": "1"}
    for key in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX", "VIRTUAL_ENV"):
        env.pop(key, None)  # each gateway runs from its own venv, as installed
    with (s.run_dir / "stdout.log").open("ab") as log:
        return subprocess.Popen(
            gw.argv(s), cwd=s.run_dir, env=env, stdout=log, stderr=subprocess.STDOUT
        )


def stop(proc: subprocess.Popen[bytes], *, kill: bool = False) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def log_lines(gw: Gateway, s: Setup) -> int:
    total = 0
    for path in gw.log_files(s):
        if path.exists():
            with path.open("rb") as f:
                total += sum(1 for _ in f)
    return total


class Platform:
    """Every message on ``#`` with its arrival instant (monotonic)."""

    def __init__(self, port: int) -> None:
        self.messages: list[tuple[float, str, bytes]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="bench-platform", protocol=mqtt.MQTTv5
        )
        self._client.on_message = self._on_message
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *a: self._subscribed.set()
        keep = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        keep.SessionExpiryInterval = 3600  # the broker keeps our session through its restart
        self._client.connect("127.0.0.1", port, clean_start=False, properties=keep)
        self._client.loop_start()
        self.wait_subscribed()

    def _on_connect(self, client: Any, *_a: Any) -> None:
        client.subscribe("#", qos=1)

    def _on_message(self, client: Any, _u: Any, msg: Any) -> None:
        with self._lock:
            self.messages.append((time.monotonic(), msg.topic, bytes(msg.payload)))
        if msg.topic.startswith(_TB_RPC):
            self._answer_thingsboard(client, msg.topic, msg.payload)

    @staticmethod
    def _answer_thingsboard(client: Any, topic: str, payload: bytes) -> None:
        """Reply to ThingsBoard IoT Gateway's ``getSessionLimits`` RPC as a ThingsBoard
        server does: it sends nothing until it has the session's limits. No rate limits,
        ThingsBoard's default in-flight window (100) and payload size (64 KiB)."""
        try:
            method = json.loads(payload).get("method")
        except ValueError:
            return
        if method == "getSessionLimits":
            limits = {"maxPayloadSize": 65536, "maxInflightMessages": 100, "rateLimits": {},
                      "gatewayRateLimits": {}}  # fmt: skip
            response = topic.replace("/request/", "/response/")
            client.publish(response, json.dumps(limits), qos=1)

    def wait_subscribed(self, timeout: float = 30) -> None:
        if not self._subscribed.wait(timeout):
            raise TimeoutError("bench subscriber did not subscribe")

    def back(self) -> None:
        """The broker is listening again: reconnect and resubscribe now."""
        self._client.loop_stop()
        self._subscribed.clear()
        self._client.reconnect()
        self._client.loop_start()
        self.wait_subscribed()

    def from_index(self, i: int) -> list[tuple[float, str, bytes]]:
        with self._lock:
            return self.messages[i:]

    def since(self, t: float) -> list[tuple[float, str, bytes]]:
        with self._lock:
            return [m for m in self.messages if m[0] >= t]

    def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        return wait_for(predicate, timeout)

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()
