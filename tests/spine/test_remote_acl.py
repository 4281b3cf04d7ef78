"""The Mosquitto ACL documented in docs/remote.md, run as written in a real broker: only the
platform writes commands, a gateway reads only its own, and commands still get answered."""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.broker import Mosquitto
from tests.shared_data import REPO
from tests.spine.remote_client import Requester
from tests.spine.test_remote import GW, _config, running


def documented_acl() -> str:
    text = (REPO / "docs" / "remote.md").read_text()
    match = re.search(r"```acl\n(.*?)```", text, re.DOTALL)
    assert match, "docs/remote.md has no ```acl block"
    return match.group(1)


@pytest.fixture
def acl_broker(tmp_path: Path) -> Any:
    b = Mosquitto(tmp_path, acl=documented_acl()).start()
    yield b
    b.stop()


class _Publisher:
    """Publishes at QoS 1 and returns the broker's PUBACK reason (a positive signal)."""

    def __init__(self, port: int, client_id: str, username: str | None = None) -> None:
        self._acks: dict[int, str] = {}
        self._cond = threading.Condition()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        if username:
            self.client.username_pw_set(username)
        self.client.on_publish = self._on_publish
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_publish(self, _c: Any, _u: Any, mid: int, rc: Any, _p: Any) -> None:
        with self._cond:
            self._acks[mid] = str(rc)
            self._cond.notify_all()

    def puback(self, topic: str) -> str:
        info = self.client.publish(topic, b"{}", qos=1)
        with self._cond:
            assert self._cond.wait_for(lambda: info.mid in self._acks, 10)
            return self._acks[info.mid]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


DENIED = "Not authorized"


@pytest.mark.parametrize(
    ("client_id", "username", "topic", "allowed"),
    [
        ("platform-app", "platform", "edge/gw-1/cmd/ping", True),
        ("gw-1", None, "edge/gw-1/cmd/ping", False),  # not even to itself
        ("gw-1", None, "edge/gw-2/cmd/ping", False),
        ("intruder", None, "edge/gw-1/cmd/config.apply", False),
        ("gw-1", None, "edge/gw-1/events/elevator", True),
        ("gw-1", None, "edge/gw-1/reply/platform", True),
        ("gw-1", None, "edge/gw-2/events/elevator", False),
        ("gw-1", None, "edge/gw-1/receipts", False),
    ],
)
def test_the_documented_acl_lets_only_the_platform_write_commands(
    acl_broker: Mosquitto, client_id: str, username: str | None, topic: str, allowed: bool
) -> None:
    pub = _Publisher(acl_broker.port, client_id, username)
    try:
        reason = pub.puback(topic)
    finally:
        pub.close()
    assert (reason != DENIED) is allowed, reason


def test_commands_are_answered_through_the_documented_acl(
    tmp_path: Path, acl_broker: Mosquitto
) -> None:
    requester = Requester(acl_broker.port, GW, client_id="platform-app", username="platform")

    async def main() -> dict[str, Any]:
        async with running(_config(tmp_path, acl_broker.port)):
            await asyncio.to_thread(requester.wait_ready)
            return await asyncio.to_thread(requester.ask, "buffer.stats")

    try:
        reply = asyncio.run(main())
    finally:
        requester.close()
    assert reply["ok"] and reply["result"]["pending"] >= 0
