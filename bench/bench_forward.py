"""Drain rate of a 20,000-event backlog to a local Mosquitto ÷ a bare paho publisher.

Both sides publish the same payloads (the backlog's own CloudEvents bytes) with QoS 1,
MQTT v5 and the same in-flight window to the same broker, and are timed until the last
PUBACK. Ours also reads the rows from the outbox, checks every PUBACK reason code and
deletes the acknowledged rows in SQLite — the work a real drain does. The event loop's
lateness during our drain is sampled every 50 ms (agent/looplag.py): the drain must not
stall the loop the drivers share with it.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from agent.config import MqttConfig
from agent.events import Event, Priority
from agent.forwarder import Forwarder
from agent.looplag import LoopLag
from buffer.config import BufferConfig
from buffer.outbox import Outbox

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.broker import Mosquitto

WINDOW = 64


def _bare_paho(port: int, payloads: list[bytes]) -> float:
    done = threading.Event()
    acked = 0

    def on_publish(*_a: Any) -> None:
        nonlocal acked
        acked += 1
        if acked == len(payloads):
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-bare", protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(WINDOW)
    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    start = time.perf_counter()
    for p in payloads:
        client.publish("edge/bench-bare/events/bench", p, qos=1)
    done.wait(300)
    elapsed = time.perf_counter() - start
    client.loop_stop()
    client.disconnect()
    return elapsed


async def _fill(box: Outbox, n: int) -> list[bytes]:
    for b in range(0, n, 1000):
        await box.append(
            [
                Event(
                    type="bench.sample",
                    subject="dev-1",
                    data={"n": i, "pad": "x" * 64},
                    priority=Priority.EVENT,
                )
                for i in range(b, min(b + 1000, n))
            ]
        )
    return [r.payload for r in await box.pending(n)]


async def _ours(port: int, db: Path, n: int) -> tuple[float, list[bytes], float]:
    box = Outbox(BufferConfig(path=db, synchronous="FULL"), source="/edge/bench/buffer")
    await box.open()
    payloads = await _fill(box, n)
    cfg = MqttConfig(host="127.0.0.1", port=port, insecure=True, inflight=WINDOW, batch=2000)
    fwd = Forwarder(cfg, gateway_id="bench-ours", outbox=box, birth={})
    stop = asyncio.Event()
    task = asyncio.create_task(fwd.run(stop))
    await fwd.connected.wait()
    lag = LoopLag(interval=0.05)
    probe = asyncio.create_task(lag.run())
    start = time.perf_counter()
    while fwd.stats.delivered < n:  # cheap; a stats() query would scan the table
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - start
    probe.cancel()
    stop.set()
    await task
    await box.close()
    assert fwd.stats.delivered == n, fwd.stats
    return elapsed, payloads, lag.max_ms


def run(quick: bool) -> dict[str, Any]:
    n = 20_000
    rounds = 5 if quick else 9
    ours_t, bare_t, lags = [], [], []
    with tempfile.TemporaryDirectory() as d:
        broker = Mosquitto(Path(d)).start()
        try:
            for r in range(rounds):
                t, payloads, lag_ms = asyncio.run(_ours(broker.port, Path(d) / f"b{r}.db", n))
                ours_t.append(t)
                lags.append(lag_ms)
                bare_t.append(_bare_paho(broker.port, payloads))
        finally:
            broker.stop()
    # Rounds alternate ours and bare; median of per-round ratios (see bench_buffer).
    ratios = sorted(b / o for b, o in zip(bare_t, ours_t, strict=True))
    best_ours, best_bare = statistics.median(ours_t), statistics.median(bare_t)
    return {
        "events": n,
        "inflight_window": WINDOW,
        "qos": 1,
        "ours_events_per_s": round(n / best_ours),
        "bare_paho_events_per_s": round(n / best_bare),
        "ours_s": [round(t, 3) for t in ours_t],
        "bare_paho_s": [round(t, 3) for t in bare_t],
        "round_ratios": [round(r, 3) for r in ratios],
        "ratio": round(statistics.median(ratios), 3),
        "target": ">= 0.95 (stretch >= 1.0)",
        "ours_max_loop_lag_ms": round(max(lags), 1),
    }
