"""A broker with a small Maximum Packet Size, and transient PUBACK refusals.

Issue 9 item 2: one oversized row must not block the uplink: it is dead-lettered with its
reason and reported by an alarm while everything behind it flows; an evidence JPEG is
re-encoded to fit first.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import cv2
import numpy as np

from agent.config import MqttConfig
from agent.events import Attachment, Event, Priority
from agent.forwarder import Forwarder
from agent.forwarder_publish import classify
from buffer.config import BufferConfig
from buffer.outbox import Outbox
from tests.broker import Mosquitto, Subscriber
from tests.spine.agentproc import AgentProcess, buffer_stats, synthetic, write_config
from vision.evidence import shrink_jpeg


def test_oversized_alarm_is_dead_lettered_and_the_rest_flows(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path, extra=["allow_anonymous true", "max_packet_size 4096"]).start()
    sub = Subscriber(broker.port)
    cfg = write_config(
        tmp_path / "c.yaml",
        port=broker.port,
        buffer=tmp_path / "b.db",
        drivers=[
            synthetic(1, 100, "alarm", name="big", payload_bytes=8000),
            synthetic(200, 400, "event", name="small"),
        ],
    )
    agent = AgentProcess(cfg, tmp_path / "agent.log").start()
    try:
        assert sub.wait(
            lambda s: len([e for e in s.events() if e["type"] == "synthetic.sample"]) >= 200, 30
        ), agent.log()[-4000:]
        assert sub.wait(
            lambda s: any(e["type"] == "gateway.forward.rejected" for e in s.events()), 30
        )
        rejected = next(e for e in sub.events() if e["type"] == "gateway.forward.rejected")
        assert rejected["priority"] == "alarm"
        assert "maximum packet size 4096" in rejected["data"]["last_reason"]
        assert agent.terminate() == 0
        assert buffer_stats(cfg)["dead"] == 1
        con = sqlite3.connect(tmp_path / "b.db")
        ((reason,),) = con.execute("SELECT reason FROM outbox WHERE state=1").fetchall()
        con.close()
        assert "maximum packet size 4096" in reason
    finally:
        if agent.alive():
            agent.kill()
        sub.close()
        broker.stop()


def _noisy_jpeg(size: int = 640) -> bytes:
    rng = np.random.default_rng(7)
    img = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return bytes(buf.tobytes())


def test_evidence_snapshot_is_reencoded_to_fit_the_broker(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path, extra=["allow_anonymous true", "max_packet_size 30000"]).start()
    sub = Subscriber(broker.port)
    jpeg = _noisy_jpeg()
    assert len(jpeg) > 100_000

    async def go() -> None:
        box = Outbox(BufferConfig(path=tmp_path / "b.db"), source="/edge/test/buffer")
        await box.open()
        cfg = MqttConfig(host="127.0.0.1", port=broker.port, insecure=True)
        fwd = Forwarder(cfg, gateway_id="gw-t", outbox=box, birth={}, shrink_image=shrink_jpeg)
        stop = asyncio.Event()
        task = asyncio.create_task(fwd.run(stop))
        try:
            await box.append(
                [
                    Event(
                        # The forwarder re-encodes any JPEG attachment, whatever the type;
                        # a test type, so the data need not be a full violation.
                        type="test.sample",
                        subject="cam-1",
                        data={"n": 1},
                        priority=Priority.ALARM,
                        attachments=(Attachment(jpeg),),
                    )
                ]
            )
            async with asyncio.timeout(30):
                while fwd.stats.delivered < 2:
                    await asyncio.sleep(0.05)
            assert fwd.stats.dead_lettered == 0
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
            await box.close()

    try:
        asyncio.run(go())
        assert sub.wait(lambda s: any("/snapshots/" in t for t, _, _ in s.messages), 10)
        (image,) = [p for t, p, _ in sub.messages if "/snapshots/" in t]
        assert len(image) < 30000
        decoded = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_COLOR)
        assert decoded is not None
    finally:
        sub.close()
        broker.stop()


class _Code:
    def __init__(self, value: int) -> None:
        self.value = value


def test_transient_puback_refusals_stay_pending() -> None:
    in_flight = {1: "a", 2: "b", 3: "c", 4: "d"}
    results = [(1, None), (2, _Code(0x97)), (3, _Code(0x87)), (4, _Code(0x80))]
    reasons: dict[str, int] = {}
    delivered, rejected, transient, reportable = classify(
        results,  # type: ignore[arg-type]
        in_flight,
        report_ids=(),
        reasons=reasons,
    )
    assert delivered == [1]
    assert [r for r, _ in rejected] == [3]  # 0x87 not authorised: a verdict, kept dead
    assert transient == 2 and reportable == 1
    assert reasons == {"0x87": 1}
