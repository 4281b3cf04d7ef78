"""Test-side implementations of our own seams (never of third-party libraries)."""

from __future__ import annotations

import asyncio

from agent.events import Event
from tests.contract_check import check_event


class ListSink:
    """An EventSink that keeps events in memory; ``wait_for`` helps tests await a type."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._changed = asyncio.Event()

    async def emit(self, event: Event) -> None:
        check_event(event)  # against the platform contract (tests/contract_check.py)
        self.events.append(event)
        self._changed.set()

    def of_type(self, prefix: str) -> list[Event]:
        return [e for e in self.events if e.type.startswith(prefix)]

    async def wait_for(self, prefix: str, count: int = 1, timeout: float = 10.0) -> list[Event]:
        async with asyncio.timeout(timeout):
            while len(self.of_type(prefix)) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.of_type(prefix)
