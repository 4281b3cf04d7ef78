"""Test-side implementations of our own seams (never of third-party libraries)."""

from __future__ import annotations

import asyncio

from agent.events import Event
from tests.contract_check import watch


class ListSink:
    """An EventSink that keeps events in memory; ``wait_for`` helps tests await a type."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._changed = asyncio.Event()
        # Every event is checked against the platform contract when the test ends.
        self._checked = 0
        watch(self._unchecked)

    def _unchecked(self) -> list[Event]:
        fresh = self.events[self._checked :]
        self._checked = len(self.events)
        return fresh

    async def emit(self, event: Event) -> None:
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
