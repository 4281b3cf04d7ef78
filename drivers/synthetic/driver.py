"""The ``synthetic`` driver: emits numbered events, resuming after a restart.

The last emitted number is kept in the driver's state file so that a supervisor restart
or a process kill continues the sequence instead of starting over; the number is
written only after the sink has made the event durable, so nothing is skipped (a kill
between the two can repeat one number, which is harmless for a test source).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from pydantic import Field

from agent.driver import DriverContext, EventSink
from agent.events import Event, EventData, Priority, Severity
from agent.state_file import write_atomic
from drivers.synthetic.config import SyntheticConfig

SAMPLE = "synthetic.sample"  # the default type (``event_type`` in the config)
_BATCH = 64  # events awaited together at most; keeps high rates possible with group commit
# A batch spans at most this much of the schedule: at 2 events/s a batch of 64 meant one
# burst every 32 s, so nothing was emitted for half a minute at a time (it passed for a
# 16 s "recovery delay" in bench/run.py recovery; issue 19).
_BATCH_SPAN_S = 0.25


def batch_size(rate_hz: float) -> int:
    """Events emitted (and awaited) together at ``rate_hz``: 1 below 8 events/s, 64 from
    256 events/s (as before for the fast sources the tests and benches use)."""
    return max(1, min(_BATCH, int(rate_hz * _BATCH_SPAN_S)))


class SyntheticSample(EventData):
    """One numbered sample of the installer's end-to-end check."""

    n: int = Field(ge=0, description="0, 1, 2, ... resumed across restarts.")
    driver: str
    padding: str | None = Field(default=None, description="payload_bytes of filler, if set.")
    key: str | None = Field(default=None, description="The configured key, e.g. SOS.")


class SyntheticDriver:
    """Produces ``synthetic.sample`` (or ``event_type``) events numbered 0..count-1."""

    def __init__(self, config: SyntheticConfig, context: DriverContext) -> None:
        self.name = config.name
        self._config = config
        self._priority = Priority.parse(config.priority)
        self._padding = "x" * config.payload_bytes
        self._state_file: Path = context.state_dir / f"synthetic-{config.name}.next"

    def _load_next(self) -> int:
        try:
            return int(self._state_file.read_text().strip() or 0)
        except FileNotFoundError:
            return 0

    def _save_next(self, value: int) -> None:
        # Not fsynced (a test source; a lost number only repeats events), but never torn.
        write_atomic(self._state_file, str(value).encode(), durable=False)

    def _make(self, n: int) -> Event:
        sample = SyntheticSample(n=n, driver=self.name)
        if self._config.key is not None:
            sample.key = self._config.key
        if self._padding:
            sample.padding = self._padding
        return Event(
            type=self._config.event_type,
            subject=self.name,
            data=sample.to_data(),
            priority=self._priority,
            severity=Severity(self._config.severity),
        )

    async def run(self, sink: EventSink) -> None:
        n = self._load_next()
        count = self._config.count
        interval = 1.0 / self._config.rate_hz
        batch = min(batch_size(self._config.rate_hz), self._config.batch)
        start = time.monotonic()
        first = n
        while count == 0 or n < count:
            end = n + batch if count == 0 else min(n + batch, count)
            await asyncio.gather(*(sink.emit(self._make(i)) for i in range(n, end)))
            n = end
            self._save_next(n)
            # Pace against the monotonic clock so a slow commit does not lower the rate.
            due = start + (n - first) * interval
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        # Done: stay alive (idle) so the supervisor does not restart a finished source.
        await asyncio.Event().wait()
