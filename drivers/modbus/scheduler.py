"""One scheduler per physical bus: poll jobs served in turn, never concurrently.

RS-485 is half-duplex and many TCP gateways accept one transaction at a time, so every
request on a bus goes through this single loop (research anchors-gateways.md §7 items 5
and 7). Each (device, poll group) is a job with an absolute due time on the monotonic
clock; a job that falls more than a period behind skips the missed slots and counts them
instead of queueing catch-up polls. A device that has gone offline is only probed with
the first request of its first group, at most every ``offline_probe_s``, so a dead unit
costs the bus one timeout now and then and the healthy units keep their cadence.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from drivers.modbus.decode import DecodeError, decode_request
from drivers.modbus.errors import MalformedReplyError, ReadError
from drivers.modbus.planner import ReadRequest


class Reader(Protocol):
    async def read(
        self, unit: int, table: str, address: int, count: int
    ) -> list[int] | list[bool]: ...


class PolledDevice(Protocol):
    """What the scheduler needs from a device: its unit id, health, and a result hook."""

    unit_id: int
    online: bool | None

    async def on_poll(
        self, group: str, values: dict[str, Any] | None, failure: ReadError | None, now: float
    ) -> None: ...


@dataclass
class BusStats:
    """Counters for health reports, tests and the benchmark."""

    requests: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    polls: int = 0
    skipped: int = 0


@dataclass
class PollJob:
    device: PolledDevice
    group: str
    period_s: float
    requests: Sequence[ReadRequest]
    pause_s: float = 0.0
    probe: bool = False  # this job keeps probing while the device is offline
    last_probe: float = float("-inf")
    starts: list[float] = field(default_factory=list)  # recent start times (bounded)
    skipped: int = 0


_KEEP_STARTS = 256


def _honour_swallowed_cancel() -> None:
    """Re-raise a cancellation that an inner ``asyncio.wait_for`` swallowed.

    On Python 3.11, ``wait_for`` (used by pymodbus for every request) returns the reply
    instead of raising when the cancel and the reply land in the same loop iteration; the
    task's ``cancelling()`` count still says it was asked to stop. Without this check a
    driver the supervisor cancelled could poll on for ever (seen under load in tests).
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class BusScheduler:
    """Runs poll jobs on one bus until cancelled."""

    def __init__(
        self,
        reader: Reader,
        jobs: Sequence[PollJob],
        *,
        pause_s: float = 0.0,
        offline_probe_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._reader = reader
        self.jobs = list(jobs)
        self._pause_s = pause_s
        self._offline_probe_s = offline_probe_s
        self._clock = clock
        self.stats = BusStats()

    async def run(self) -> None:
        order = itertools.count()
        start = self._clock()
        heap = [(start, next(order), job) for job in self.jobs]
        heapq.heapify(heap)
        while heap:
            due, _, job = heapq.heappop(heap)
            delay = due - self._clock()
            if delay > 0:
                await asyncio.sleep(delay)
            await self.poll(job)
            _honour_swallowed_cancel()
            nxt = due + job.period_s
            now = self._clock()
            if nxt <= now:
                # Overdue: skip the slots we already missed rather than running them late.
                missed = int((now - nxt) // job.period_s) + 1
                job.skipped += missed
                self.stats.skipped += missed
                nxt += missed * job.period_s
            heapq.heappush(heap, (nxt, next(order), job))

    async def poll(self, job: PollJob) -> None:
        """Run one job now: its planned reads, then the device hook (also used by bench)."""
        device = job.device
        started = self._clock()
        if device.online is False:
            if not job.probe or started - job.last_probe < self._offline_probe_s:
                return
            job.last_probe = started
        requests = job.requests[:1] if device.online is False else job.requests
        if not requests:
            return
        job.starts.append(started)
        if len(job.starts) > _KEEP_STARTS:
            del job.starts[: -_KEEP_STARTS // 2]
        self.stats.polls += 1
        values: dict[str, Any] = {}
        failure: ReadError | None = None
        for request in requests:
            self.stats.requests += 1
            try:
                words = await self._reader.read(
                    device.unit_id, request.table, request.address, request.count
                )
                values.update(decode_request(request, words))
            except ReadError as exc:
                failure = exc
            except DecodeError as exc:
                failure = MalformedReplyError(str(exc))
            pause = max(self._pause_s, job.pause_s)
            if pause > 0:
                await asyncio.sleep(pause)
            if failure is not None:
                self.stats.errors[failure.kind] += 1
                break  # do not hammer a failing unit with the rest of its blocks
        await device.on_poll(job.group, None if failure else values, failure, self._clock())
