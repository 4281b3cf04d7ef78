"""The planner issues the optimum number of requests and never breaks the limits."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.modbus.planner import limits_for, plan_points, plan_profile
from drivers.modbus.profile import Limits, Point, load_profile, shipped_profiles
from tests.modbus.harness import device_entry, running_driver, simulated_bus


def optimum(points: list[Point], max_span: int, max_gap: int) -> int:
    """Fewest requests, by dynamic programming over address-ordered runs of points."""
    pts = sorted(points, key=lambda p: (p.address, p.end))
    best = [0] + [10**9] * len(pts)
    for i in range(1, len(pts) + 1):
        for j in range(i):
            run = pts[j:i]
            end, ok = run[0].end, True
            for p in run[1:]:
                if p.address - end > max_gap:
                    ok = False
                    break
                end = max(end, p.end)
            if ok and end - run[0].address <= max_span:
                best[i] = min(best[i], best[j] + 1)
    return best[-1]


def profile_optimum(name: str) -> dict[str, int]:
    profile = load_profile(name)
    out = {}
    for group in profile.poll_groups:
        total = 0
        for table in ("coil", "discrete_input", "holding", "input"):
            pts = [p for p in profile.points_in(group) if p.table == table]
            if pts:
                total += optimum(pts, *limits_for(table, profile.limits))
        out[group] = total
    return out


def test_every_shipped_profile_counted_at_the_server() -> None:
    async def check(name: str) -> None:
        expected = profile_optimum(name)
        async with simulated_bus(name, ["normal"]) as bus:
            entry = device_entry(1, name, 1.0, poll_periods_ms={"fast": 60, "slow": 90})
            async with running_driver(bus.bus_config([entry])) as (driver, _):
                await asyncio.sleep(0.8)
            assert driver.scheduler is not None
            jobs = driver.scheduler.jobs
            served = sum(bus.devices[0].requests.values())
        for job in jobs:
            assert len(job.requests) == expected[job.group], (name, job.group)
        # Every request the driver made reached the server, one per planned block. The
        # bus is polled serially, so the cancellation that ends the test can cut at most
        # one cycle short (and at most one request may be in flight at that moment).
        planned = sum(len(job.starts) * len(job.requests) for job in jobs)
        assert 0 <= planned - served <= max(len(job.requests) for job in jobs)
        assert served <= driver.scheduler.stats.requests <= served + 1

    for name in shipped_profiles():
        asyncio.run(check(name))


def test_nice3000_plan_is_three_blocks() -> None:
    plan = plan_profile(load_profile("inovance-nice3000plus"))
    assert [(r.address, r.count) for r in plan["fast"]] == [(0x1010, 14), (0x3000, 1), (0x8000, 1)]


_TYPES = {"u16": 1, "i16": 1, "u32": 2, "i32": 2, "f32": 2, "bit": 1, "string": 0}


@st.composite
def points(draw: st.DrawFn) -> list[Point]:
    n = draw(st.integers(1, 40))
    out = []
    for i in range(n):
        table = draw(st.sampled_from(["holding", "input", "coil", "discrete_input"]))
        kind = (
            "bool" if table in ("coil", "discrete_input") else draw(st.sampled_from(list(_TYPES)))
        )
        length = draw(st.integers(1, 8)) if kind == "string" else 1
        address = draw(st.integers(0, 3000))
        out.append(Point(key=f"p{i}", table=table, address=address, type=kind, length=length))
    return out


@given(
    pts=points(),
    max_regs=st.integers(8, 125),
    max_bits=st.integers(8, 2000),
    gap=st.integers(0, 40),
)
@settings(max_examples=300, deadline=None)
def test_plan_covers_points_within_limits_and_is_optimal(
    pts: list[Point], max_regs: int, max_bits: int, gap: int
) -> None:
    limits = Limits(
        max_registers_per_read=max_regs,
        max_bits_per_read=max_bits,
        max_gap_registers=gap,
        max_gap_bits=gap,
    )
    plan = plan_points(pts, limits)
    covered: dict[str, int] = {}
    for r in plan:
        span, _ = limits_for(r.table, limits)
        assert 1 <= r.count <= span
        assert r.count <= (2000 if r.table in ("coil", "discrete_input") else 125)
        for p in r.points:
            assert p.table == r.table and r.address <= p.address and p.end <= r.end
            covered[p.key] = covered.get(p.key, 0) + 1
    assert covered == {p.key: 1 for p in pts}
    for table in ("coil", "discrete_input", "holding", "input"):
        chosen = [p for p in pts if p.table == table]
        if chosen:
            got = sum(1 for r in plan if r.table == table)
            assert got == optimum(chosen, *limits_for(table, limits))
