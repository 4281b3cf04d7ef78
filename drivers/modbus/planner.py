"""Turn a profile's points into the fewest read requests.

Per (poll group, table), points are sorted by address and packed greedily: a request
grows while the next point fits inside the per-request maximum (125 registers / 2,000
bits by the Modbus spec, lower if the device says so) and the unused gap before it is at
most ``max_gap``. A point is never split across requests. Greedy packing of sorted
intervals is optimal for this covering problem (the first request of any valid plan
covers at most the prefix greedy covers; induct), which the tests check against a
dynamic-programming optimum (research anchors-gateways.md §8.1, Telegraf's optimiser §5.1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from drivers.modbus.profile import BIT_TABLES, Limits, Point, Profile

SPEC_MAX_REGISTERS = 125
SPEC_MAX_BITS = 2000


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """One Modbus read: ``count`` registers (or bits) of ``table`` from ``address``."""

    table: str
    address: int
    count: int
    points: tuple[Point, ...]
    # (point, first, last+1) byte offsets into the reply, computed once for decoding.
    layout: tuple[tuple[Point, int, int], ...] = ()

    @classmethod
    def of(cls, table: str, address: int, count: int, points: Sequence[Point]) -> ReadRequest:
        layout = tuple(
            (p, 2 * (p.address - address), 2 * (p.address - address + p.words)) for p in points
        )
        return cls(table, address, count, tuple(points), layout)

    @property
    def end(self) -> int:
        return self.address + self.count


def limits_for(table: str, limits: Limits) -> tuple[int, int]:
    """(max span, max gap) for a table under the device's limits."""
    if table in BIT_TABLES:
        return min(limits.max_bits_per_read, SPEC_MAX_BITS), limits.max_gap_bits
    return min(limits.max_registers_per_read, SPEC_MAX_REGISTERS), limits.max_gap_registers


def pack(table: str, points: Sequence[Point], max_span: int, max_gap: int) -> list[ReadRequest]:
    """Greedy packing of one table's points into requests."""
    ordered = sorted(points, key=lambda p: (p.address, p.end))
    requests: list[ReadRequest] = []
    start = end = -1
    members: list[Point] = []
    for p in ordered:
        if members and p.address - end <= max_gap and max(end, p.end) - start <= max_span:
            end = max(end, p.end)
            members.append(p)
            continue
        if members:
            requests.append(ReadRequest.of(table, start, end - start, members))
        start, end, members = p.address, p.end, [p]
    if members:
        requests.append(ReadRequest.of(table, start, end - start, members))
    return requests


def plan_points(points: Sequence[Point], limits: Limits) -> list[ReadRequest]:
    """Requests covering ``points`` (any tables), in table then address order."""
    plan: list[ReadRequest] = []
    for table in ("coil", "discrete_input", "holding", "input"):
        chosen = [p for p in points if p.table == table]
        if chosen:
            span, gap = limits_for(table, limits)
            plan.extend(pack(table, chosen, span, gap))
    return plan


def plan_profile(profile: Profile, limits: Limits | None = None) -> dict[str, list[ReadRequest]]:
    """Poll group -> its requests. ``limits`` overrides the profile's own (device quirks)."""
    use = limits or profile.limits
    return {g: plan_points(profile.points_in(g), use) for g in profile.poll_groups}


def describe(plan: dict[str, list[ReadRequest]]) -> str:
    """One log line, e.g. 'fast: 3 requests / 41 words for 37 points'."""
    parts = []
    for group, requests in plan.items():
        words = sum(r.count for r in requests)
        points = sum(len(r.points) for r in requests)
        parts.append(f"{group}: {len(requests)} requests / {words} words for {points} points")
    return "; ".join(parts)
