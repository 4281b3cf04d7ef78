"""The watchdog reflects progress: a stuck writer withholds WATCHDOG=1; a stalled
forwarder (outage included) is an alarm, never a missed ping (issue 9, suspected)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from agent.events import Event
from agent.supervisor import Watchdog
from buffer.config import BufferConfig
from buffer.outbox import Outbox
from tests.contract_check import check_event


class _Sink:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def emit(self, event: Event) -> None:
        check_event(event)
        self.events.append(event)


def test_stuck_writer_thread_withholds_the_ping(tmp_path: Path) -> None:
    async def go() -> None:
        box = Outbox(BufferConfig(path=tmp_path / "b.db"), source="/edge/test/buffer")
        await box.open()
        pings: list[str] = []
        dog = Watchdog(
            probe_writer=lambda: box.call(lambda _s: None),
            backlog=lambda: asyncio.sleep(0, 0),
            forwarding=lambda: (0, True),
            sink=_Sink(),
            notify=pings.append,
            source="/edge/test/watchdog",
        )
        await dog.beat(1.0)
        assert pings == ["WATCHDOG=1"] and not dog.writer_stuck
        release = threading.Event()
        stuck = asyncio.ensure_future(box.call(lambda _s: release.wait(30)))
        await asyncio.sleep(0)  # let it reach the writer's queue first
        await dog.beat(0.5)
        assert dog.writer_stuck and pings == ["WATCHDOG=1"]  # no ping while stuck
        release.set()
        await stuck
        await dog.beat(1.0)
        assert not dog.writer_stuck and pings == ["WATCHDOG=1", "WATCHDOG=1"]
        await box.close()

    asyncio.run(go())


def test_broker_outage_is_an_alarm_not_a_missed_ping() -> None:
    async def go() -> None:
        async def probe() -> None:
            return None

        async def backlog() -> int:
            return 42

        pings: list[str] = []
        sink = _Sink()
        dog = Watchdog(
            probe_writer=probe,
            backlog=backlog,
            forwarding=lambda: (7, False),
            sink=sink,
            notify=pings.append,
            source="/edge/test/watchdog",
            stall_s=0.0,
        )
        await dog.beat(1.0)
        await dog.beat(1.0)
        assert pings == ["WATCHDOG=1", "WATCHDOG=1"]
        assert [e.type for e in sink.events] == ["gateway.forward.stalled"]  # once per stall
        assert sink.events[0].data["pending"] == 42 and sink.events[0].data["connected"] is False

    asyncio.run(go())
