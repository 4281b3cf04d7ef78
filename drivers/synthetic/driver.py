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

from agent.driver import DriverContext, EventSink
from agent.events import Event, Priority, Severity
from agent.state_file import write_atomic
from drivers.synthetic.config import SyntheticConfig

SAMPLE = "synthetic.sample"  # the default type (``event_type`` in the config)
_BATCH = 64  # events awaited together; keeps high rates possible with group commit


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
        data: dict[str, object] = {"n": n, "driver": self.name}
        if self._config.key is not None:
            data["key"] = self._config.key
        if self._padding:
            data["padding"] = self._padding
        return Event(
            type=self._config.event_type,
            subject=self.name,
            data=data,
            priority=self._priority,
            severity=Severity(self._config.severity),
        )

    async def run(self, sink: EventSink) -> None:
        n = self._load_next()
        count = self._config.count
        interval = 1.0 / self._config.rate_hz
        start = time.monotonic()
        first = n
        while count == 0 or n < count:
            batch = min(_BATCH, self._config.batch)
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
