"""The forwarder in-process against a real Mosquitto: edge cases of the delivery loop."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from agent import forward_rejects
from agent.config import MqttConfig
from agent.events import Event, Priority
from agent.forwarder import Forwarder
from agent.forwarder_publish import Publisher as _Publisher
from agent.forwarder_publish import Refused as _Refused
from agent.inbound import Inbound
from buffer.config import BufferConfig
from buffer.outbox import Outbox
from buffer.store import OutboxStore
from tests.broker import Mosquitto, Subscriber


def ev(n: int, prio: Priority = Priority.EVENT) -> Event:
    return Event(type="test.sample", subject="dev-1", data={"n": n}, priority=prio)


@asynccontextmanager
async def running(
    tmp_path: Path,
    port: int,
    *,
    report: Callable[[Event], Any] | None = None,
    inbound: Inbound | None = None,
    **mqtt: Any,
) -> AsyncIterator[tuple[Forwarder, Outbox]]:
    box = Outbox(BufferConfig(path=tmp_path / "b.db"), source="/edge/test/buffer")
    await box.open()
    cfg = MqttConfig(host="127.0.0.1", port=port, insecure=True, **mqtt)
    fwd = Forwarder(cfg, gateway_id="gw-t", outbox=box, birth={}, report=report, inbound=inbound)
    stop = asyncio.Event()
    task = asyncio.create_task(fwd.run(stop))
    try:
        yield fwd, box
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await box.close()


async def until(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


def test_publishing_after_an_idle_spell_is_not_taken_for_a_dead_broker(
    tmp_path: Path, broker: Mosquitto
) -> None:
    # The PUBACK deadline runs from the publish, not from the last PUBACK before a pause
    # longer than the deadline itself.
    async def go() -> None:
        async with running(tmp_path, broker.port, timeout_s=1.0) as (fwd, box):
            await asyncio.wait_for(fwd.connected.wait(), 10)
            await asyncio.sleep(1.6)
            # A broker that takes a moment to answer (paused, as over a slow link): well
            # within the 1 s deadline counted from the publish.
            assert broker.proc is not None
            broker.proc.send_signal(signal.SIGSTOP)
            try:
                await box.append([ev(i) for i in range(20)])
                await asyncio.sleep(0.4)
            finally:
                broker.proc.send_signal(signal.SIGCONT)
            await until(lambda: fwd.stats.delivered == 20)
            assert fwd.stats.connect_failures == 0
            assert fwd.stats.connects == 1

    asyncio.run(go())


def test_a_wake_before_the_wait_is_not_lost(tmp_path: Path, broker: Mosquitto) -> None:
    async def go() -> None:
        client = aiomqtt.Client("127.0.0.1", port=broker.port, identifier="wake-test")
        async with client:
            publisher = _Publisher(client)
            publisher.wake()
            # Nothing outstanding: without the early wake this waits for the deadline.
            await asyncio.wait_for(publisher.wait_results(1, timeout=30), 2)

    asyncio.run(go())


def test_unpublishable_row_is_dead_lettered_and_the_rest_delivered(
    tmp_path: Path, broker: Mosquitto
) -> None:
    sub = Subscriber(broker.port)

    # A row whose topic paho refuses (a wildcard), as an older version might have stored:
    # it must not stop the forwarder.
    store = OutboxStore(BufferConfig(path=tmp_path / "b.db"), source="/edge/test/buffer")
    store.append([ev(i) for i in range(11)])
    store.conn.execute("UPDATE outbox SET topic='events/bad+topic', crc=NULL WHERE seq=1")
    store.close()

    async def go() -> None:
        async with running(tmp_path, broker.port) as (fwd, _box):
            await until(lambda: fwd.stats.delivered >= 10 and fwd.stats.dead_lettered == 1)
            assert fwd.stats.reasons == {"client": 1}

    try:
        asyncio.run(go())
        assert sub.wait(lambda s: len(s.events()) >= 10, 10)
        assert sorted(e["data"]["n"] for e in sub.events() if e["type"] == "test.sample") == list(
            range(1, 11)
        )
        con = sqlite3.connect(tmp_path / "b.db")
        ((reason,),) = con.execute("SELECT reason FROM outbox WHERE state=1").fetchall()
        con.close()
        assert reason.startswith("not publishable")
    finally:
        sub.close()


def test_refused_rejection_report_is_not_reported_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The ACL refuses every event topic, the report of the refusal included: one report,
    # not a report of the report of the report…
    broker = Mosquitto(tmp_path, acl="pattern write edge/%c/status\n").start()
    monkeypatch.setattr(forward_rejects, "REPORT_INTERVAL_S", 0.0)
    reports: list[Event] = []

    async def go() -> None:
        box_ref: list[Outbox] = []

        async def report(event: Event) -> None:
            reports.append(event)
            await box_ref[0].append([event])

        async with running(tmp_path, broker.port, report=report) as (fwd, box):
            box_ref.append(box)
            await box.append([ev(0)])
            await until(lambda: fwd.stats.dead_lettered == 2)
            await asyncio.sleep(1.0)
            assert fwd.stats.dead_lettered == 2
            assert len(reports) == 1

    try:
        asyncio.run(go())
    finally:
        broker.stop()


def test_reconnect_backoff_grows_when_connections_do_not_hold(tmp_path: Path) -> None:
    # The broker accepts the connection but refuses the birth message: each connection
    # fails at once. The backoff must keep growing instead of restarting at its base.
    broker = Mosquitto(tmp_path, acl="topic read edge/#\n").start()

    async def go() -> None:
        async with running(tmp_path, broker.port, reconnect_max_s=60) as (fwd, _box):
            await asyncio.sleep(6.0)
            # Full jitter from 0.5 s doubling: about 5 attempts in 6 s; restarting
            # the backoff after every accepted connection would make about 24.
            assert 2 <= fwd.stats.connects <= 12, fwd.stats

    try:
        asyncio.run(go())
    finally:
        broker.stop()


def test_publisher_keeps_its_window_and_refills_it_from_the_pubacks(broker: Mosquitto) -> None:
    async def go() -> None:
        client = aiomqtt.Client(
            "127.0.0.1",
            port=broker.port,
            identifier="window-test",
            protocol=aiomqtt.ProtocolVersion.V5,
            max_inflight_messages=0,
        )
        async with client:
            publisher = _Publisher(client, window=3)
            for i in range(30):
                # Row 7 cannot be published (wildcard topic): refused, the rest go on.
                topic = "edge/w/events/bad+" if i == 7 else "edge/w/events/test"
                publisher.publish(i, topic, b"x")
                assert len(publisher._rows) <= 3
            assert publisher.outstanding == 30
            await asyncio.wait_for(publisher.wait_results(30, timeout=10), 10)
            results = dict(publisher.take_results())
            assert sorted(results) == list(range(30))
            assert isinstance(results.pop(7), _Refused)
            assert set(results.values()) == {None}
            assert publisher.outstanding == 0

    asyncio.run(go())


def test_a_puback_that_never_comes_ends_its_attempt_at_the_deadline(broker: Mosquitto) -> None:
    """The broker frozen after the CONNACK: the oldest attempt reaches its deadline, the
    connection is given up, the others end with it; the ledger accounts for each."""

    async def go() -> None:
        v5 = aiomqtt.ProtocolVersion.V5
        client = aiomqtt.Client(
            "127.0.0.1", port=broker.port, identifier="deadline", protocol=v5, timeout=2
        )
        assert broker.proc is not None
        async with client:
            publisher = _Publisher(client, window=2, deadline_s=0.5)
            broker.proc.send_signal(signal.SIGSTOP)
            try:
                for i in range(5):
                    publisher.publish(i, "edge/d/events/test", b"x")
                with pytest.raises(aiomqtt.MqttError, match="broker unresponsive"):
                    await asyncio.wait_for(publisher.wait_results(5), 30)
                publisher.close()
                # Nothing acknowledged while frozen: every row stays in the outbox (a
                # PUBACK arriving after the broker resumes still counts as delivery).
                assert publisher.results == []
            finally:
                broker.proc.send_signal(signal.SIGCONT)
        ledger = publisher.ledger
        assert (ledger.started, ledger.expired, ledger.with_connection, ledger.open) == (2, 1, 1, 0)

    asyncio.run(go())


@pytest.mark.parametrize("protocol", [aiomqtt.ProtocolVersion.V311, aiomqtt.ProtocolVersion.V5])
def test_publisher_packets_arrive_byte_for_byte(
    broker: Mosquitto, protocol: aiomqtt.ProtocolVersion
) -> None:
    # Publisher encodes its PUBLISH packets and agent/forwarder_wire.py reads what comes
    # back: every Remaining Length size (1 to 4 bytes), an empty payload and a topic
    # outside ASCII go out, and come back on our own subscription between the PUBACKs.
    payloads = [b"", b"a", bytes(range(256)), b"y" * 20_000, b"z" * 2_100_000]
    payloads += [f"small {i}".encode() for i in range(40)]
    sent = {(f"wire/ü/{i}", p) for i, p in enumerate(payloads)}

    async def go() -> set[tuple[str, bytes]]:
        client = aiomqtt.Client(
            "127.0.0.1",
            port=broker.port,
            identifier=f"wire-{protocol.name}",
            protocol=protocol,
            max_inflight_messages=0,
        )
        got: set[tuple[str, bytes]] = set()
        async with client:
            await client.subscribe("wire/#", qos=1)
            publisher = _Publisher(client, window=4)
            for i, payload in enumerate(payloads):
                publisher.publish(i, f"wire/ü/{i}", payload)
            await asyncio.wait_for(publisher.wait_results(len(payloads), timeout=20), 30)
            assert dict(publisher.take_results()) == dict.fromkeys(range(len(payloads)))
            async with asyncio.timeout(30):
                async for message in client.messages:
                    assert isinstance(message.payload, bytes)
                    got.add((message.topic.value, message.payload))
                    if len(got) == len(payloads):
                        break
        return got

    assert asyncio.run(go()) == sent
