"""The uplink's reconnect schedule (agent/backoff.py), with an injected clock and random
source: what it draws, when it restarts, and when a waiting alarm may skip it."""

from __future__ import annotations

import random

import pytest

from agent.backoff import ReconnectSchedule


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Top(random.Random):
    """Always draws the top of the range: the schedule's ceilings, exactly."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_ceilings_double_from_the_base_up_to_the_cap() -> None:
    schedule = ReconnectSchedule(cap=10.0, clock=Clock(), rng=Top())
    assert [schedule.next_delay() for _ in range(8)] == [0.5, 1, 2, 4, 8, 10, 10, 10]


def test_draws_are_full_jitter_within_the_ceiling() -> None:
    schedule = ReconnectSchedule(cap=10.0, clock=Clock(), rng=random.Random(7))
    draws = [schedule.next_delay() for _ in range(2000)]
    late = draws[10:]
    assert all(0 <= d <= 10 for d in late)
    # Spread over the whole range, not clustered: a fleet does not return in lock-step.
    assert min(late) < 1 and max(late) > 9
    assert sum(late) / len(late) == pytest.approx(5.0, abs=0.5)


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


def test_first_retry_after_a_60_s_outage_is_bounded_by_the_cap() -> None:
    # Broker down for 60 s from t=0: walk the schedule and find the first attempt after
    # it returns. With the 10 s default cap that wait is under 10 s for every draw, and
    # averages about cap/3 (the residual of uniform delays), not the ~20 s of a 60 s cap.
    waits = []
    for seed in range(300):
        rng = random.Random(seed)
        schedule = ReconnectSchedule(cap=10.0, clock=Clock(), rng=rng)
        t = 0.0
        while t < 60.0:
            t += schedule.next_delay()
        waits.append(t - 60.0)
    assert max(waits) <= 10.0
    assert sum(waits) / len(waits) < 5.0


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
