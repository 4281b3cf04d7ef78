"""Serial benchmark: bare decode per codec, the agent path, 50 devices' CPU, SOS latency.

* ``decode_fps[codec]``: ``feed`` + ``decode`` of back-to-back frames, no I/O.
* ``ratio``: frames/s through pty -> SerialDriver -> rules -> SQLite outbox, divided by
  the bare bracelet decode in the same run (target >= 0.5).
* ``cpu_share_50_devices``: CPU of the agent process per wall second while 25 bracelets
  (status every 60 s, research domain-devices.md §4.6) and 25 ``53 59`` radars (body
  movement 1/s, distance 2/s... §4.1) report at their documented rates; the writer
  thread's own CPU is subtracted (target < 0.10 of one core).
* ``sos_ms_outbox``: last byte of an SOS frame written -> its event committed in the
  outbox, p50/p99 over the SOS frames (target p99 <= 50 ms); ``sos_ms_subscriber``: the
  same to a subscriber on a local Mosquitto, through the real forwarder (target <= 200 ms).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from agent.config import MqttConfig
from agent.driver import DriverContext
from agent.events import Event
from agent.forwarder import Forwarder
from buffer.config import BufferConfig
from buffer.outbox import Outbox, OutboxSink
from drivers.serial.codec_5359 import encode_frame as radar_frame
from drivers.serial.codec_bracelet import CMD_EVENT, CMD_STATUS, encode_frame, status_tlvs, tlv
from drivers.serial.codec_ld2410 import LD2410Codec
from drivers.serial.codec_tinyframe import TinyFrameCodec, float_payload
from drivers.serial.codecs import make_codec
from drivers.serial.config import SerialConfig
from drivers.serial.driver import SerialDriver
from drivers.serial.simulator.runner import open_pty
from tests.broker import Mosquitto

SAMPLES = {
    "seeed5359": radar_frame(0x85, 0x02, b"\x48"),
    "tinyframe": TinyFrameCodec.encode(0x0A15, float_payload(72.0)),
    "ld2410": LD2410Codec.encode(3, 120),
    "bracelet": encode_frame(CMD_STATUS, 1, 1, status_tlvs(hr=72, spo2=97, temp_c=36.5,
                                                          battery=80, wear=True, steps=10)),
}  # fmt: skip


def _bare(name: str, n: int) -> float:
    codec = make_codec(name)
    stream = SAMPLES[name] * n
    start = time.perf_counter()
    for i in range(0, len(stream), 4096):
        for frame in codec.feed(stream[i : i + 4096]):
            codec.decode(frame)
    assert codec.stats.frames_ok == n
    return n / (time.perf_counter() - start)


def _bracelets(n: int) -> list[dict[str, Any]]:
    return [{"id": f"band-{i}", "resident": f"r{i}", "frame_id": f"{i:08x}"}
            for i in range(1, n + 1)]  # fmt: skip


async def _with_driver(tmp: Path, port: str, codec: str, devices: list[dict[str, Any]],
                       sink: Any) -> tuple[SerialDriver, asyncio.Task[None]]:  # fmt: skip
    cfg = SerialConfig(name=f"b{abs(hash(port)) % 10**6}", kind="serial", port=port,
                       codec=codec, devices=devices)  # type: ignore[arg-type]  # fmt: skip
    drv = SerialDriver(cfg, DriverContext("bench", tmp))
    task = asyncio.create_task(drv.run(sink))
    await asyncio.sleep(0.05)
    return drv, task


async def _agent_path(tmp: Path, outbox: Outbox, n: int) -> float:
    master, slave, path = open_pty()
    drv, task = await _with_driver(tmp, path, "bracelet", _bracelets(1), OutboxSink(outbox))
    data = SAMPLES["bracelet"] * n

    def write() -> None:
        for i in range(0, len(data), 1024):
            os.write(master, data[i : i + 1024])

    start = time.perf_counter()
    writer = threading.Thread(target=write)
    writer.start()
    while drv.codec.stats.frames_ok < n:
        await asyncio.sleep(0.001)
    elapsed = time.perf_counter() - start
    writer.join()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    os.close(master)
    os.close(slave)
    return n / elapsed


async def _cpu_share(tmp: Path, outbox: Outbox, seconds: float) -> float:
    ptys = [open_pty() for _ in range(26)]
    tasks = [(await _with_driver(tmp, ptys[0][2], "bracelet", _bracelets(25),
                                 OutboxSink(outbox)))[1]]  # fmt: skip
    for i in range(1, 26):
        tasks.append((await _with_driver(tmp, ptys[i][2], "seeed5359",
                                         [{"id": f"radar-{i}", "resident": f"q{i}"}],
                                         OutboxSink(outbox)))[1])  # fmt: skip
    stop = threading.Event()
    writer_cpu = [0.0]

    def write() -> None:
        t0 = time.thread_time()
        tick = 0
        while not stop.wait(1.0):
            tick += 1
            for i in range(1, 26):  # each radar: body movement 1/s, HR+RR /3 s, dist /2 s
                fd = ptys[i][0]
                frames = radar_frame(0x80, 0x03, b"\x05") + radar_frame(0x81, 0x05, b"\x80" * 5)
                frames += radar_frame(0x85, 0x05, b"\x80" * 5)
                if tick % 3 == 0:
                    frames += radar_frame(0x85, 0x02, b"\x46") + radar_frame(0x81, 0x02, b"\x10")
                if tick % 2 == 0:
                    frames += radar_frame(0x80, 0x04, b"\x00\x64")
                os.write(fd, frames)
            if tick % 60 == 0 or tick == 1:  # bracelets: status every 60 s
                for dev in range(1, 26):
                    os.write(ptys[0][0], encode_frame(CMD_STATUS, tick & 0xFF, dev,
                                                      status_tlvs(hr=70, spo2=97)))  # fmt: skip
        writer_cpu[0] = time.thread_time() - t0

    writer = threading.Thread(target=write)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    writer.start()
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.to_thread(writer.join)
    share = (time.process_time() - cpu0 - writer_cpu[0]) / (time.perf_counter() - wall0)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for m, s, _ in ptys:
        os.close(m)
        os.close(s)
    return share


class _TimedSink:
    def __init__(self, inner: OutboxSink) -> None:
        self.inner = inner
        self.committed: dict[int, float] = {}

    async def emit(self, event: Event) -> None:
        await self.inner.emit(event)
        if event.data.get("key") == "SOS":
            self.committed[len(self.committed)] = time.perf_counter()


class _Arrivals:
    def __init__(self, port: int) -> None:
        self.times: list[float] = []
        self.ready = threading.Event()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-platform",
                        protocol=mqtt.MQTTv5)  # fmt: skip
        c.on_message = lambda _c, _u, msg: (
            self.times.append(time.perf_counter()) if b'"SOS"' in msg.payload else None
        )
        c.on_subscribe = lambda *a: self.ready.set()
        c.on_connect = lambda cl, *a: cl.subscribe("edge/+/events/resident", qos=1)
        c.connect("127.0.0.1", port)
        c.loop_start()
        self.client = c


async def _sos_latency(tmp: Path, outbox: Outbox, n: int,
                       arrivals: _Arrivals) -> tuple[list[float], list[float]]:  # fmt: skip
    master, slave, path = open_pty()
    sink = _TimedSink(OutboxSink(outbox))
    _, task = await _with_driver(tmp, path, "bracelet", _bracelets(1), sink)
    lat: list[float] = []
    sub: list[float] = []
    for i in range(n):
        frame = encode_frame(CMD_EVENT, i % 250 + 1, 1, tlv(0x08, b"\x01"))
        os.write(master, frame)
        t0 = time.perf_counter()
        while len(sink.committed) <= i:
            await asyncio.sleep(0.0005)
        lat.append((sink.committed[i] - t0) * 1000)
        while len(arrivals.times) <= i:
            await asyncio.sleep(0.0005)
        sub.append((arrivals.times[i] - t0) * 1000)
        await asyncio.sleep(0.005)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    os.close(master)
    os.close(slave)
    return lat, sub


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return round(s[min(len(s) - 1, int(q * len(s)))], 2)


async def _agent(quick: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        outbox = Outbox(BufferConfig(path=tmp / "outbox.db"), source="bench")
        await outbox.open()
        try:
            fps = await _agent_path(tmp, outbox, 5_000 if quick else 50_000)
            cpu = await _cpu_share(tmp, outbox, 5.0 if quick else 30.0)
            broker = Mosquitto(tmp).start()
            fwd = Forwarder(MqttConfig(host="127.0.0.1", port=broker.port, insecure=True),
                            gateway_id="bench", outbox=outbox, birth={})  # fmt: skip
            stop = asyncio.Event()
            fwd_task = asyncio.create_task(fwd.run(stop))
            await fwd.connected.wait()
            arrivals = _Arrivals(broker.port)
            await asyncio.to_thread(arrivals.ready.wait, 10)
            try:
                lat, sub = await _sos_latency(tmp, outbox, 200 if quick else 1000, arrivals)
            finally:
                stop.set()
                await fwd_task
                arrivals.client.loop_stop()
                broker.stop()
        finally:
            await outbox.close()
    return {"agent_fps": round(fps), "cpu_share_50_devices": round(cpu, 4),
            "sos_ms_outbox_p50": _pct(lat, 0.5), "sos_ms_outbox_p99": _pct(lat, 0.99),
            "sos_ms_subscriber_p50": _pct(sub, 0.5), "sos_ms_subscriber_p99": _pct(sub, 0.99),
            "sos_frames": len(lat)}  # fmt: skip


def run(quick: bool) -> dict[str, Any]:
    n = 20_000 if quick else 200_000
    bare = {name: round(_bare(name, n)) for name in SAMPLES}
    agent = asyncio.run(_agent(quick))
    ratio = agent["agent_fps"] / bare["bracelet"]
    return {"decode_fps": bare, **agent, "ratio": round(ratio, 3),
            "targets": {"ratio": ">= 0.5", "cpu_share_50_devices": "< 0.10",
                        "sos_ms_outbox_p99": "<= 50",
                        "sos_ms_subscriber_p99": "<= 200"}}  # fmt: skip
