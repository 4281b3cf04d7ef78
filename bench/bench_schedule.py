"""The reconnect schedule in simulated time (issue 19 item 5): one gateway and a fleet
after an outage, for fleets no loopback machine can run.

Walks the real ``agent.backoff.ReconnectSchedule`` (an injected clock and one random
source per gateway; a refused attempt takes no time) from a disconnect of the whole fleet
at t=0 to the first attempt at or after the broker's return after ``outage_s`` (60 s).
Beside it, the schedule before issue 19's change (full jitter up to a 10 s cap) and the
alternatives weighed (full jitter over an 8 s cap, about the same fleet load as the new
default; decorrelated jitter, each wait drawn from ``[base, 3 x the last]`` and capped),
for the same figures. Per schedule:

* ``wait_s``: one gateway, broker's return -> its first attempt (median, p95, max over
  2,000 seeds; --quick: 500);
* ``fleet``: for N gateways, ``peak_per_s`` (most reconnections in any 1 s window, the
  broker's handshake load), ``peak_share`` (that as a share of N), ``spread_s`` (first to
  last reconnection) and ``attempts_per_s_while_down`` (the fleet's refused connects);
  ``fleet_50_after_3_s``: the same for 50 gateways and a 3 s outage (a quick restart).

What it leaves out, and bench/bench_fleet.py measures with real processes: the time a
connect and the first publish take, and a broker that slows down under the load.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable
from typing import Any

from agent.backoff import ReconnectSchedule, full_jitter
from agent.config_model import MqttConfig

DEFAULT_CAP = float(MqttConfig.model_fields["reconnect_max_s"].default)
OUTAGE_S = 60.0

Draw = Callable[[int], float]


def _decorrelated(cap: float, base: float = 0.5) -> Callable[[random.Random], Draw]:
    def make(rng: random.Random) -> Draw:
        last = [base]

        def draw(_attempt: int) -> float:
            last[0] = min(cap, rng.uniform(base, 3 * last[0]))
            return last[0]

        return draw

    return make


def _walk(draw: Draw, outage_s: float) -> tuple[float, int]:
    """(broker's return -> first attempt, attempts made while it was down)."""
    t, attempt = 0.0, 0
    while t < outage_s:
        t += draw(attempt)
        attempt += 1
    return t - outage_s, attempt - 1


def _new(cap: float) -> Callable[[random.Random], Draw]:
    def make(rng: random.Random) -> Draw:
        return ReconnectSchedule(cap=cap, clock=lambda: 0.0, rng=rng).draw

    return make


def _before(cap: float) -> Callable[[random.Random], Draw]:
    def make(rng: random.Random) -> Draw:
        return lambda attempt: full_jitter(attempt, base=0.5, cap=cap, rng=rng)

    return make


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _peak_per_s(times: list[float]) -> int:
    ordered, j, best = sorted(times), 0, 0
    for i, t in enumerate(ordered):
        while j < len(ordered) and ordered[j] < t + 1.0:
            j += 1
        best = max(best, j - i)
    return best


def _fleet(
    make: Callable[[random.Random], Draw], n: int, seed: int, outage_s: float = OUTAGE_S
) -> dict[str, float]:
    walks = [_walk(make(random.Random(seed * 100_003 + gw)), outage_s) for gw in range(n)]
    times = [w for w, _ in walks]
    peak = _peak_per_s(times)
    return {
        "peak_per_s": peak,
        "peak_share": round(peak / n, 3),
        "spread_s": round(max(times) - min(times), 2),
        "attempts_per_s_while_down": round(sum(a for _, a in walks) / outage_s, 1),
    }


def _figures(make: Callable[[random.Random], Draw], seeds: int) -> dict[str, Any]:
    waits = [_walk(make(random.Random(s)), OUTAGE_S)[0] for s in range(seeds)]
    return {
        "wait_s": {
            "median": round(statistics.median(waits), 2),
            "p95": round(_pct(waits, 0.95), 2),
            "max": round(max(waits), 2),
        },
        "fleet_50": _fleet(make, 50, 1),
        "fleet_13000": _fleet(make, 13_000, 1),
        "fleet_50_after_3_s": _fleet(make, 50, 1, outage_s=3.0),
    }


def run(quick: bool) -> dict[str, Any]:
    seeds = 500 if quick else 2000
    schedules: dict[str, Callable[[random.Random], Draw]] = {
        "before: full jitter, cap 10 s": _before(10.0),
        f"now: default cap {DEFAULT_CAP:g} s": _new(DEFAULT_CAP),
        "weighed: full jitter, cap 8 s": _before(8.0),
        f"weighed: decorrelated, cap {DEFAULT_CAP:g} s": _decorrelated(DEFAULT_CAP),
        "now: cap 10 s": _new(10.0),
        "now: cap 60 s": _new(60.0),
    }
    result: dict[str, Any] = {"outage_s": OUTAGE_S, "seeds": seeds}
    result.update({name: _figures(make, seeds) for name, make in schedules.items()})
    now = result[f"now: default cap {DEFAULT_CAP:g} s"]["wait_s"]["median"]
    result["ratio"] = round(now / 5.0, 2)  # one gateway's median wait against the 5 s target
    return result
