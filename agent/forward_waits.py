"""The pump's waits: for new rows or a stop, for a stop (to wake the publisher), and a
pause a stop cuts short.

Split from agent/forwarder.py so the pump reads as what it does; nothing here knows
about MQTT beyond the publisher's ``wake``.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class Wakeable(Protocol):
    def wake(self) -> None: ...


async def pause(stop: asyncio.Event, delay: float = 1.0) -> None:
    """Wait ``delay`` seconds, or less if ``stop`` is set meanwhile."""
    try:
        async with asyncio.timeout(delay):
            await stop.wait()
    except TimeoutError:
        pass


async def wake_on(stop: asyncio.Event, publisher: Wakeable) -> None:
    """Wake ``publisher``'s waiter once ``stop`` is set."""
    await stop.wait()
    publisher.wake()


async def either(changed: asyncio.Event, stop: asyncio.Event) -> None:
    """Return when ``changed`` (new rows in the outbox) or ``stop`` is set."""
    waiter = asyncio.ensure_future(changed.wait())
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        stopper.cancel()
