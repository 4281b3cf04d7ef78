"""Inbound routing (agent/inbound.py): unit rules, and the forwarder's subscribe and
request/response path against a real Mosquitto with a real paho v5 client."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.inbound import Inbound, InboundMessage, Reply, topic_matches
from tests.broker import Mosquitto
from tests.spine.test_forwarder import running, until


def test_topic_filters_match_as_a_broker_does() -> None:
    assert topic_matches("edge/gw/cmd/+", "edge/gw/cmd/ping")
    assert not topic_matches("edge/gw/cmd/+", "edge/gw/cmd/a/b")
    assert topic_matches("edge/gw/#", "edge/gw/cmd/a/b")
    assert not topic_matches("edge/gw/receipts", "edge/gw/receipts/x")
    assert not topic_matches("edge/gw/receipts", "edge/gw")


def test_only_our_own_prefix_reaches_a_handler_and_failures_stay_inside() -> None:
    seen: list[str] = []

    async def ok(msg: InboundMessage, reply: Reply) -> None:
        seen.append(msg.topic)

    async def broken(msg: InboundMessage, reply: Reply) -> None:
        raise ValueError("malformed")

    async def main() -> Inbound:
        inbound = Inbound("gw-1")
        inbound.route("receipts", ok)
        inbound.route("cmd/+", broken)
        noop: Reply = lambda *a: None  # noqa: E731
        for topic in ("edge/gw-1/receipts", "edge/gw-2/receipts", "edge/gw-1/other"):
            inbound.dispatch(InboundMessage(topic, b"{}"), noop)
        inbound.dispatch(InboundMessage("edge/gw-1/cmd/ping", b"x"), noop)
        inbound.dispatch(InboundMessage("edge/gw-1/cmd/ping", b"x"), noop)
        await inbound.idle()
        return inbound

    inbound = asyncio.run(main())
    assert seen == ["edge/gw-1/receipts"]
    assert (inbound.stats.received, inbound.stats.ignored, inbound.stats.failed) == (5, 2, 2)


def test_a_request_is_answered_on_its_response_topic_with_its_correlation_data(
    tmp_path: Path, broker: Mosquitto
) -> None:
    replies: list[tuple[str, bytes, bytes | None]] = []
    got = threading.Event()

    def on_message(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        corr = getattr(msg.properties, "CorrelationData", None)
        replies.append((msg.topic, msg.payload, corr))
        got.set()

    requester = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="platform", protocol=mqtt.MQTTv5)
    requester.on_message = on_message
    requester.connect("127.0.0.1", broker.port)
    requester.subscribe("platform/replies/#", qos=1)
    requester.loop_start()

    async def echo(msg: InboundMessage, reply: Reply) -> None:
        assert msg.response_topic is not None
        reply(msg.response_topic, b"pong:" + msg.payload, msg.correlation_data)

    async def main() -> None:
        inbound = Inbound("gw-t")
        inbound.route("cmd/+", echo)
        async with running(tmp_path, broker.port, inbound=inbound) as (fwd, _box):
            await until(lambda: fwd.connected.is_set())
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = "platform/replies/1"
            props.CorrelationData = b"req-42"
            requester.publish("edge/other-gw/cmd/ping", b"hello", qos=1, properties=props)
            # Subscribing happens just after the birth message: retry until answered.
            for _ in range(100):
                requester.publish("edge/gw-t/cmd/ping", b"hello", qos=1, properties=props)
                if await asyncio.to_thread(got.wait, 0.2):
                    break

    asyncio.run(main())
    requester.loop_stop()
    requester.disconnect()
    assert replies and all(r == ("platform/replies/1", b"pong:hello", b"req-42") for r in replies)
