"""The uplink's reconnect schedule (agent/backoff.py), with an injected clock and random
source: what it draws, when it restarts, when a waiting alarm may skip it, and what it
means for one gateway and for a fleet after a 60 s outage (walked in simulated time)."""

from __future__ import annotations

import random
import statistics

import pytest

from agent.backoff import ReconnectSchedule
from agent.config_model import MqttConfig

DEFAULT_CAP = MqttConfig.model_fields["reconnect_max_s"].default


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Top(random.Random):
    """Always draws the top of the range: the schedule's ceilings, exactly."""

    def uniform(self, a: float, b: float) -> float:
        return b


class Bottom(random.Random):
    """Always draws the bottom of the range: the schedule's floors."""

    def uniform(self, a: float, b: float) -> float:
        return a


def first_after(schedule: ReconnectSchedule, outage_s: float) -> float:
    """Walk the schedule from a disconnect at t=0 (each refused attempt takes no time)
    to the first attempt at or after the broker's return; that attempt's time."""
    t = 0.0
    while t < outage_s:
        t += schedule.next_delay()
    return t


def peak_per_s(times: list[float]) -> int:
    ordered = sorted(times)
    return max(sum(1 for t in ordered if s <= t < s + 1.0) for s in ordered)


def test_ceilings_double_from_the_base_up_to_the_cap() -> None:
    schedule = ReconnectSchedule(cap=10.0, clock=Clock(), rng=Top())
    assert [schedule.next_delay() for _ in range(8)] == [0.5, 1, 2, 4, 8, 10, 10, 10]


def test_floors_are_zero_while_growing_and_a_third_of_the_cap_at_it() -> None:
    schedule = ReconnectSchedule(cap=10.0, clock=Clock(), rng=Bottom())
    draws = [schedule.next_delay() for _ in range(7)]
    assert draws[:5] == [0, 0, 0, 0, 0]  # full jitter while the ceiling is below the cap
    assert draws[5:] == pytest.approx([10 / 3, 10 / 3])


def test_draws_at_the_cap_spread_over_its_upper_two_thirds() -> None:
    schedule = ReconnectSchedule(cap=10.0, clock=Clock(), rng=random.Random(7))
    draws = [schedule.next_delay() for _ in range(2000)]
    early, late = draws[:5], draws[5:]
    assert [d <= c for d, c in zip(early, [0.5, 1, 2, 4, 8], strict=True)] == [True] * 5
    assert all(10 / 3 <= d <= 10 for d in late)
    # Spread over the whole range, not clustered: a fleet does not return in lock-step.
    assert min(late) < 10 / 3 + 0.5 and max(late) > 9.5
    assert sum(late) / len(late) == pytest.approx(20 / 3, abs=0.3)


def test_a_cap_below_the_first_ceiling_is_drawn_at_the_cap_from_the_start() -> None:
    schedule = ReconnectSchedule(cap=1.0, base=2.0, clock=Clock(), rng=Top())
    assert schedule.next_delay() == 1.0
    assert ReconnectSchedule(cap=1.0, base=2.0, clock=Clock(), rng=Bottom()).next_delay() == (
        pytest.approx(1 / 3)
    )


def test_restarts_only_after_a_connection_that_held() -> None:
    clock = Clock()
    schedule = ReconnectSchedule(cap=10.0, stable_after_s=30.0, clock=clock, rng=Top())
    for _ in range(5):
        schedule.next_delay()
    schedule.attempting()
    schedule.connected()
    clock.now += 2.0  # dropped at once: the backoff keeps growing
    assert schedule.next_delay() == 10
    schedule.connected()
    clock.now += 30.0  # held: back to the quick early retries
    assert schedule.next_delay() == 0.5
    assert schedule.next_delay() == 1


def test_alarm_may_skip_the_wait_at_most_once_per_gap() -> None:
    clock = Clock()
    schedule = ReconnectSchedule(cap=10.0, alarm_gap_s=1.0, clock=clock, rng=Top())
    assert schedule.alarm_gap_left() == 0  # never tried: at once
    schedule.attempting()
    clock.now += 0.25
    assert schedule.alarm_gap_left() == pytest.approx(0.75)
    clock.now += 5.0
    assert schedule.alarm_gap_left() == 0


def test_one_gateway_is_back_within_a_third_of_the_cap_after_a_60_s_outage() -> None:
    """Issue 19 item 5: broker down for 60 s from t=0; the wait from its return to the
    first attempt, over 2,000 seeds at the default cap: median about cap / 3 (2 s at 6 s),
    p95 about 0.8 x the cap, never more than the cap. Full jitter over the same cap (the
    schedule before) has a median of 0.29 x and a p95 of 0.78 x the cap but draws a third
    more attempts from a fleet near the cap; over a cap with the same attempt rate
    (4 / 3 x this one) its p95 is 1.03 x this cap."""
    waits = [
        first_after(ReconnectSchedule(cap=DEFAULT_CAP, clock=Clock(), rng=random.Random(s)), 60)
        - 60
        for s in range(2000)
    ]
    ordered = sorted(waits)
    assert DEFAULT_CAP <= 6.0  # the figure issue 19 asks for: median <= 5 s, aimed at 3
    assert statistics.median(waits) == pytest.approx(DEFAULT_CAP / 3, rel=0.1)
    assert ordered[int(0.95 * len(ordered))] <= 0.85 * DEFAULT_CAP
    assert max(waits) <= DEFAULT_CAP


def test_a_fleet_of_50_comes_back_spread_over_the_cap_after_a_60_s_outage() -> None:
    """50 gateways dropped at the same instant (each with its own random source), the
    broker back after 60 s: the reconnects are spread over most of the cap, no 1 s window
    holds more than about a third of the fleet, and during the outage the fleet makes
    about N / (2 cap / 3) attempts a second once at the cap (plus each gateway's quick
    retries), not N per retry of a lock-step schedule."""
    peaks, spreads, rates = [], [], []
    for fleet in range(40):
        times, attempts = [], 0
        for gw in range(50):
            schedule = ReconnectSchedule(
                cap=DEFAULT_CAP, clock=Clock(), rng=random.Random(fleet * 1000 + gw)
            )
            times.append(first_after(schedule, 60.0) - 60.0)
            attempts += schedule.attempt
        peaks.append(peak_per_s(times))
        spreads.append(max(times) - min(times))
        rates.append(attempts / 60.0)
    assert statistics.median(peaks) <= 20  # of 50
    assert max(peaks) <= 26  # never half the fleet in one second
    assert statistics.median(spreads) >= 0.8 * DEFAULT_CAP
    growing = sum(1 for k in range(30) if 0.5 * 2**k < DEFAULT_CAP)  # the quick retries
    expected = 50 / (2 * DEFAULT_CAP / 3) + 50 * growing / 60.0
    assert statistics.median(rates) == pytest.approx(expected, rel=0.1)


def test_refused_credentials_wait_longer_than_any_network_retry() -> None:
    """Issue 14 item 7, issue 16 item 4: drawn from [refused_s, 2 * refused_s] (at most one
    attempt a minute at the default), above the network cap, and the network schedule is
    not advanced by them."""
    schedule = ReconnectSchedule(cap=10.0, refused_s=60.0, clock=Clock(), rng=random.Random(3))
    refused = [schedule.next_delay(refused=True) for _ in range(500)]
    assert all(60.0 <= d <= 120.0 for d in refused)
    assert min(refused) > 10.0  # longer than the longest network wait
    assert schedule.attempt == 0
    top = ReconnectSchedule(cap=10.0, refused_s=60.0, clock=Clock(), rng=Top())
    assert top.next_delay() == 0.5  # a network error after refusals starts at the base
