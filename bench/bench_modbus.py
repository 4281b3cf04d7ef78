"""Modbus driver overhead: a 200-point profile polled from the simulator.

Figures: requests per poll cycle (counted at the server) against the planner optimum
(dynamic programming, independent of the greedy planner), and the driver's poll-cycle
time (planned reads + decode + snapshot/rules/events) against bare pymodbus reading the
same planned blocks, same server, same run. Batches alternate to cancel drift.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from agent.driver import DriverContext
from agent.events import Event
from drivers.modbus.config import ModbusConfig
from drivers.modbus.driver import ModbusDriver
from drivers.modbus.planner import limits_for
from drivers.modbus.profile import Point, load_profile
from drivers.modbus.scheduler import BusScheduler
from drivers.modbus.simulator.scenarios import SCENARIOS
from drivers.modbus.simulator.server import make_devices, start_tcp

_TYPES = ["u16", "i16", "u32", "i32", "f32", "bit"]


def _profile_yaml(path: Path, points: int = 200, seed: int = 5) -> None:
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    address = {"holding": 0, "input": 0}
    for i in range(points):
        table = "holding" if i % 4 else "input"
        kind = rng.choice(_TYPES)
        out.append({"key": f"p{i:03d}", "table": table, "address": address[table], "type": kind})
        width = 2 if kind in ("u32", "i32", "f32") else 1
        # Mostly dense, sometimes a gap the planner bridges, sometimes one it must not.
        address[table] += width + rng.choice([0, 0, 0, 0, 0, 1, 3, 12])
    doc = {
        "name": "bench-200",
        "provenance": "INVENTED for the benchmark",
        "limits": {"max_registers_per_read": 100, "max_gap_registers": 8},
        "poll_groups": {"fast": {"period_ms": 1000}},
        "points": out,
    }
    path.write_text(yaml.safe_dump(doc))


def _optimum(points: list[Point], max_span: int, max_gap: int) -> int:
    pts = sorted(points, key=lambda p: (p.address, p.end))
    best = [0] + [10**9] * len(pts)
    for i in range(1, len(pts) + 1):
        for j in range(i - 1, -1, -1):
            run = pts[j:i]
            if max(p.end for p in run) - run[0].address > max_span:
                break
            end, ok = run[0].end, True
            for p in run[1:]:
                if p.address - end > max_gap:
                    ok = False
                    break
                end = max(end, p.end)
            if ok:
                best[i] = min(best[i], best[j] + 1)
    return best[-1]


class _NullSink:
    async def emit(self, event: Event) -> None:
        return None


async def _measure(quick: bool) -> dict[str, Any]:
    from pymodbus.client import AsyncModbusTcpClient

    cycles = 60 if quick else 400
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench-200.yaml"
        _profile_yaml(path)
        profile = load_profile(str(path))
        optimum = sum(
            _optimum([p for p in profile.points if p.table == t], *limits_for(t, profile.limits))
            for t in ("holding", "input")
        )
        devices = make_devices(profile, [SCENARIOS["normal"]])
        server = await start_tcp(devices)
        config = ModbusConfig.model_validate({
            "name": "bench", "kind": "modbus", "port": server.port, "request_timeout_ms": 1000,
            "devices": [{"id": "lift-b", "unit_id": 1, "profile": str(path)}],
        })  # fmt: skip
        driver = ModbusDriver(config, DriverContext("bench", Path(tmp)))
        (job,) = driver._jobs(_NullSink())
        link = driver._link()
        await link.connect()
        scheduler = BusScheduler(link, [job])
        bare = AsyncModbusTcpClient("127.0.0.1", port=server.port, timeout=1, retries=0,
                                    reconnect_delay=0)  # fmt: skip
        await bare.connect()
        calls = {"holding": bare.read_holding_registers, "input": bare.read_input_registers}
        ours: list[float] = []
        theirs: list[float] = []
        try:
            for _ in range(3):  # warm up both paths
                await scheduler.poll(job)
            before = sum(devices[0].requests.values())
            for i in range(cycles):
                t0 = time.perf_counter()
                await scheduler.poll(job)
                ours.append(time.perf_counter() - t0)
                if i == 0:
                    per_cycle = sum(devices[0].requests.values()) - before
                t0 = time.perf_counter()
                for r in job.requests:
                    reply = await calls[r.table](r.address, count=r.count, device_id=1)
                    assert not reply.isError()
                theirs.append(time.perf_counter() - t0)
        finally:
            bare.close()
            link.close()
            await server.stop()
    ours_ms = statistics.median(ours) * 1000
    bare_ms = statistics.median(theirs) * 1000
    return {
        "points": len(profile.points),
        "cycles": cycles,
        "requests_per_cycle": per_cycle,
        "planner_optimum": optimum,
        "ratio_requests_vs_optimum": per_cycle / optimum,
        "poll_cycle_ms_median": round(ours_ms, 3),
        "bare_pymodbus_ms_median": round(bare_ms, 3),
        "ratio": round(ours_ms / bare_ms, 3),
        "ratio_cycle_vs_bare": round(ours_ms / bare_ms, 3),
    }


def run(quick: bool) -> dict[str, Any]:
    return asyncio.run(_measure(quick))
