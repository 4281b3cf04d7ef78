"""The platform's side of remote commands in tests: a real paho MQTT v5 requester.

It sends a request on ``edge/{gateway}/cmd/{name}`` with a response topic under the
gateway's own ``reply/`` subtree and a fresh correlation id, and waits for the reply that
carries that id (docs/remote.md).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


class Requester:
    def __init__(
        self, port: int, gateway: str, *, client_id: str = "platform", username: str | None = None
    ) -> None:
        self.gateway = gateway
        self.raw: list[tuple[str, bytes, bytes | None]] = []  # every reply as received
        self._replies: dict[bytes, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        if username is not None:
            self._client.username_pw_set(username)
        self._client.on_message = self._on_message
        subscribed = threading.Event()
        self._client.on_subscribe = lambda *a: subscribed.set()
        self._client.connect("127.0.0.1", port)
        self._client.subscribe("edge/+/reply/#", qos=1)
        self._client.loop_start()
        if not subscribed.wait(10):
            raise TimeoutError("requester did not subscribe")

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        corr = getattr(msg.properties, "CorrelationData", None)
        with self._cond:
            self.raw.append((msg.topic, bytes(msg.payload), corr))
            if corr is not None:
                self._replies[bytes(corr)] = json.loads(msg.payload)
            self._cond.notify_all()

    def send(
        self,
        command: str,
        body: dict[str, Any] | bytes | None = None,
        *,
        gateway: str | None = None,
        requester: str | None = "ops-console-7",
        response_topic: str | None = None,
    ) -> bytes:
        """Publish one request; return its correlation id."""
        gw = gateway or self.gateway
        corr = uuid.uuid4().bytes
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = response_topic or f"edge/{gw}/reply/platform"
        props.CorrelationData = corr
        if requester is not None:
            props.UserProperty = [("requester", requester)]
        payload = body if isinstance(body, bytes) else json.dumps(body or {}).encode()
        self._client.publish(f"edge/{gw}/cmd/{command}", payload, qos=1, properties=props)
        return corr

    def reply(self, corr: bytes, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while corr not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no reply")
                self._cond.wait(left)
            return self._replies[corr]

    def ask(self, command: str, body: dict[str, Any] | bytes | None = None,
            timeout: float = 30.0, **kw: Any) -> dict[str, Any]:  # fmt: skip
        return self.reply(self.send(command, body, **kw), timeout)

    def wait_ready(self, timeout: float = 30.0) -> dict[str, Any]:
        """Ping until answered: the gateway subscribes just after it connects."""
        deadline = time.monotonic() + timeout
        while True:
            corr = self.send("ping")
            try:
                return self.reply(corr, 0.3)
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise

    def close(self) -> None:
        # Disconnect while the loop runs, so paho closes its sockets before it stops.
        self._client.disconnect()
        self._client.loop_stop()
