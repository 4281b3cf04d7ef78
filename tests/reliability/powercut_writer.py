"""Child process of test_power_cut.py: append events to an outbox as fast as it can.

After each append returns (the event is acknowledged to its producer) the last stored
number is written to ``<db>.acked``, so the parent knows, at the instant it freezes this
process, which events must be in the file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from agent.events import Event, Priority
from buffer.config import BufferConfig
from buffer.store import OutboxStore


def main(db: str, count: int) -> None:
    store = OutboxStore(BufferConfig(path=Path(db)), source="/edge/test/powercut")
    fd = os.open(db + ".acked", os.O_WRONLY | os.O_CREAT, 0o600)
    prios = (Priority.TELEMETRY, Priority.EVENT, Priority.ALARM)
    n = 0
    while n < count:
        batch = [
            Event(
                type="test.sample",
                subject="dev-1",
                data={"n": n + i, "pad": "p" * 300},
                priority=prios[(n + i) % 3],
            )
            for i in range(1 + n % 4)
        ]
        store.append(batch)
        n += len(batch)
        os.pwrite(fd, f"{n:012d}".encode(), 0)
    store.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
