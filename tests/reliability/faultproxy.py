"""A loopback TCP fault proxy of our own (asyncio), between the agent and the broker.

anchors-reliability.md §6.2 lists the network faults to inject; Toxiproxy is not in
the registries we use, so this is the small equivalent. One proxy, one mode:

- ``latency``: every chunk is delayed by ``latency_s`` ± ``jitter_s`` (order is kept);
- ``slice``: bytes are written 1-3 at a time, each piece flushed on its own;
- ``bandwidth``: at most ``bytes_per_s`` per direction;
- ``reset``: each connection is aborted (RST) after a random 2-20 KB from the agent,
  i.e. in the middle of a PUBLISH stream, ``resets`` times, then traffic passes;
- ``blackhole``: after ``after_bytes`` from the agent, nothing passes either way
  (connections stay open, bytes vanish) for ``hole_s`` seconds; connections made
  during the hole are held the same way; then the proxy passes traffic again;
- ``poison``: a connection whose agent-side bytes contain ``poison`` is aborted before
  those bytes pass, every time, as a content-inspecting firewall does (or a broker that
  drops the connection instead of refusing the publish).

Runs its own event loop in a daemon thread so that a synchronous test can use it.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Faults:
    mode: str = "pass"
    latency_s: float = 0.05
    jitter_s: float = 0.04
    bytes_per_s: int = 20_000
    resets: int = 5
    after_bytes: int = 20_000
    hole_s: float = 8.0
    seed: int = 16
    poison: bytes = b""


@dataclass
class Counters:
    connections: int = 0
    resets_done: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    hole_started: float | None = None
    hole_ended: float | None = None
    dropped_in_hole: int = 0
    poisoned: int = 0
    log: list[str] = field(default_factory=list)


class FaultProxy:
    def __init__(self, upstream_port: int, faults: Faults, port: int = 0) -> None:
        """``port``: where to listen (0: any free port, read ``port`` after ``start``)."""
        self.upstream_port = upstream_port
        self.faults = faults
        self.counters = Counters()
        self._rng = random.Random(faults.seed)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._run, name="faultproxy", daemon=True)
        self.port = port

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._thread.start()
        if not self._ready.wait(5):
            raise TimeoutError("fault proxy did not start")
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self.port)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    # -- one connection ----------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.counters.connections += 1
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        limit = None
        if self.faults.mode == "reset" and self.counters.resets_done < self.faults.resets:
            limit = self._rng.randint(2_000, 20_000)
        pumps = [
            asyncio.ensure_future(self._pump(reader, up_w, up=True, reset_after=limit)),
            asyncio.ensure_future(self._pump(up_r, writer, up=False, reset_after=None)),
        ]
        reset = False
        try:
            done, _ = await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            reset = any(not p.cancelled() and p.exception() is None and p.result() for p in done)
        finally:
            for p in pumps:
                p.cancel()
            for w in (writer, up_w):
                if reset:
                    _abort(w)  # both sides see a reset, mid-stream
                else:
                    w.close()

    async def _pump(
        self,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        *,
        up: bool,
        reset_after: int | None,
    ) -> bool:
        """Copy ``src`` to ``dst`` with the faults; True when it ended in a reset."""
        seen = 0
        tail = b""  # the end of the last chunk, for a marker split across two
        while True:
            chunk = await src.read(4096)
            if not chunk:
                return False
            seen += len(chunk)
            if up and self.faults.mode == "poison":
                if self.faults.poison in tail + chunk:
                    self.counters.poisoned += 1
                    return True
                tail = chunk[-len(self.faults.poison) :]
            if up:
                self.counters.bytes_up += len(chunk)
            else:
                self.counters.bytes_down += len(chunk)
            if reset_after is not None and seen >= reset_after:
                self.counters.resets_done += 1
                return True
            if self._in_hole(up):
                self.counters.dropped_in_hole += len(chunk)
                continue
            await self._send(dst, chunk)

    def _in_hole(self, up: bool) -> bool:
        f, c = self.faults, self.counters
        if f.mode != "blackhole":
            return False
        now = time.monotonic()
        if c.hole_started is None:
            if up and c.bytes_up >= f.after_bytes:
                c.hole_started = now
                return True
            return False
        if now - c.hole_started < f.hole_s:
            return True
        if c.hole_ended is None:
            c.hole_ended = now
        return False

    async def _send(self, dst: asyncio.StreamWriter, chunk: bytes) -> None:
        f = self.faults
        if f.mode == "latency":
            await asyncio.sleep(max(0.0, f.latency_s + self._rng.uniform(-f.jitter_s, f.jitter_s)))
        if f.mode == "slice":
            i = 0
            while i < len(chunk):
                n = self._rng.randint(1, 3)
                dst.write(chunk[i : i + n])
                await dst.drain()
                i += n
            return
        if f.mode == "bandwidth":
            await asyncio.sleep(len(chunk) / f.bytes_per_s)
        dst.write(chunk)
        await dst.drain()


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0), as a NAT box or a dying link does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
