"""Wait until a file descriptor (a serial port or a pty) has bytes to read.

One event-loop reader per wait, removed as soon as it fired: the port (drivers/serial/
port.py) and both simulators on their pty master (drivers/serial/simulator/) read this
way, so a read never blocks the loop and an idle port costs nothing.
"""

from __future__ import annotations

import asyncio


async def readable(fd: int) -> None:
    """Return once ``fd`` is readable (data, or end of file / an error to read)."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)
