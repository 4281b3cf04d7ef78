"""Backlog drain and SIGKILL mid-drain, for the gateways that buffer.

edge-agent: the gateway is stopped, its outbox filled with the backlog (as
bench/bench_footprint.py does: ``bench.backlog`` events, one point each, numbered), and
started again on a live broker. ThingsBoard IoT Gateway's buffer (memory storage, as
shipped) can only be filled by running it with the broker away, so the broker is stopped
for as long as its polling takes to queue the backlog's points (24 per unit per poll).
Either way: the drain rate is measured up to half the backlog, the gateway is then
SIGKILLed and started again, and what arrives in the end is counted against what was
queued (distinct ids: our event number; ThingsBoard's device and timestamp).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from bench.peers import procs
from bench.peers.gateway import POLL_S, Reading
from bench.peers.measure import POINTS_PER_UNIT, Segment
from bench.peers.sim import UNITS


async def _fill(path: Path, count: int) -> None:
    from agent.events import Event, Priority
    from buffer.config import BufferConfig
    from buffer.outbox import Outbox

    box = Outbox(BufferConfig(path=path), source="/edge/gw-bench/buffer")
    await box.open()
    try:
        for start in range(0, count, 1000):
            batch = [
                Event(source="/edge/gw-bench/synth", type="bench.backlog", subject="backlog",
                      priority=Priority.EVENT, data={"n": n})
                for n in range(start, min(count, start + 1000))
            ]  # fmt: skip
            await box.append(batch)
    finally:
        await box.close()


def _kill_at_half(seg: Segment, t0: float, half: int, is_backlog: Any) -> tuple[int, float]:
    """Wait for ``half`` backlog points, SIGKILL, start again; returns the points seen
    and the seconds from the first of them to the last before the kill."""

    def count() -> int:
        return sum(r.points for t, r in seg.data_since(t0) if is_backlog(r))

    seg.platform.wait(lambda: count() >= half, timeout=180)
    arrivals = [t for t, r in seg.data_since(t0) if is_backlog(r)]
    # From the first backlog message: the start-up or reconnect before it is not drain.
    took = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
    seen = count()
    procs.stop(seg.proc, kill=True)
    seg.proc = procs.start(seg.gw, seg.setup)
    return seen, took


def _tally(seg: Segment, t0: float, is_backlog: Any) -> tuple[int, int]:
    ids = [i for _t, r in seg.data_since(t0) if is_backlog(r) for i in r.ids]
    return len(set(ids)), len(ids) - len(set(ids))


def edge_agent(seg: Segment, points: int) -> dict[str, Any]:
    procs.stop(seg.proc)
    db = seg.setup.run_dir / "state" / "buffer.db"
    asyncio.run(_fill(db, points))

    def is_backlog(r: Reading) -> bool:
        return not r.floors and bool(r.ids)

    t0 = time.monotonic()
    seg.proc = procs.start(seg.gw, seg.setup)
    seen, took = _kill_at_half(seg, t0, points // 2, is_backlog)
    seg.platform.wait(lambda: _tally(seg, t0, is_backlog)[0] >= points, timeout=180)
    distinct, dups = _tally(seg, t0, is_backlog)
    return _result(points, seen, took, distinct, dups, "points")


def thingsboard(seg: Segment, points: int) -> dict[str, Any]:
    per_s = POINTS_PER_UNIT * UNITS / POLL_S
    down_s = points / per_s
    seg.broker.stop()
    time.sleep(down_s)
    wall_back = time.time() * 1000  # its timestamps are wall-clock milliseconds
    seg.broker.start()
    t0 = time.monotonic()
    seg.platform.back()

    def is_backlog(r: Reading) -> bool:
        stamps = [i.rsplit("@", 1)[1] for i in r.ids]
        return any(t.isdigit() and int(t) < wall_back for t in stamps)

    seen, took = _kill_at_half(seg, t0, points // 2, is_backlog)
    time.sleep(20.0)  # whatever survived the kill has time to arrive
    distinct, dups = _tally(seg, t0, is_backlog)
    entries = round(UNITS * down_s / POLL_S)  # one entry per unit per poll was queued
    return _result(entries, seen, took, distinct, dups, "poll entries (24 points each)")


def _result(
    queued: int, seen: int, took: float, distinct: int, dups: int, unit: str
) -> dict[str, Any]:
    return {
        "backlog_unit": unit,
        "backlog_queued": queued,
        "drain_points_per_s_before_kill": round(seen / took, 1) if took else None,
        "sigkill_delivered": distinct,
        "sigkill_lost": max(0, queued - distinct),
        "sigkill_duplicates": dups,
    }
