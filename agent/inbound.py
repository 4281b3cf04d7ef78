"""Messages the platform sends *to* the gateway: routing them to their handlers.

The forwarder (the only aiomqtt user) subscribes, on every connection, to the topic
filters registered here and hands each message it receives to ``Inbound.dispatch``.
Users are the alarm receipts (``edge/{gateway_id}/receipts``, issue 13) and the remote
commands (``edge/{gateway_id}/cmd/{name}``, issue 14). This module owns only the
routing, so it imports no MQTT library and can be tested without a broker.

Rules it enforces for every user:

* Routes are registered as suffixes under the gateway's own prefix ``edge/{id}/``: a
  gateway can only ever listen on its own topics, so a message meant for another
  gateway cannot reach a handler, whatever the broker's ACL says.
* A message on no route, or outside the prefix, is counted and ignored.
* A handler runs in its own task (a slow command never holds up receipts), at most
  ``max_running`` at once; beyond that a message is counted as ``dropped`` (the
  requester retries: requests and receipts are idempotent by design).
* A handler's exception is counted and logged once per handler and error type, and
  never reaches the forwarder: a bad request must not cost the uplink.

Replies (MQTT v5 request/response) go out through the ``Reply`` callable the forwarder
passes along: ``reply(topic, payload, correlation_data)``. They are sent at QoS 1 on the
current connection and are not kept in the outbox: a reply lost with the connection is
asked for again by the requester, whereas an alarm is never lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

Reply = Callable[[str, bytes, bytes | None], None]


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message as received, with the MQTT v5 request/response properties."""

    topic: str
    payload: bytes
    response_topic: str | None = None
    correlation_data: bytes | None = None
    # MQTT v5 user properties, in order (a name may repeat), e.g. the requester's ref.
    user_properties: tuple[tuple[str, str], ...] = ()


Handler = Callable[[InboundMessage, Reply], Awaitable[None]]


@dataclass
class InboundStats:
    received: int = 0
    ignored: int = 0  # on no route, or outside our prefix
    dropped: int = 0  # too many handlers running
    failed: int = 0  # a handler raised


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT topic-filter matching (``+`` one level, ``#`` the rest), as the broker does."""
    f_parts = topic_filter.split("/")
    t_parts = topic.split("/")
    for i, part in enumerate(f_parts):
        if part == "#":
            return True
        if i >= len(t_parts):
            return False
        if part != "+" and part != t_parts[i]:
            return False
    return len(f_parts) == len(t_parts)


@dataclass
class Inbound:
    """The gateway's inbound routes; shared by the forwarder and the handlers' owners."""

    gateway_id: str
    max_running: int = 8
    stats: InboundStats = field(default_factory=InboundStats)
    _routes: list[tuple[str, Handler]] = field(default_factory=list)
    _running: set[asyncio.Task[None]] = field(default_factory=set)
    _logged: set[tuple[str, str]] = field(default_factory=set)

    @property
    def prefix(self) -> str:
        return f"edge/{self.gateway_id}/"

    def route(self, suffix: str, handler: Handler) -> str:
        """Register ``handler`` for ``edge/{id}/{suffix}`` (``+``/``#`` allowed in the
        suffix); return the full topic filter."""
        if not suffix or suffix.startswith("/") or "#" in suffix[:-1]:
            raise ValueError(f"bad inbound route {suffix!r}")
        topic_filter = self.prefix + suffix
        self._routes.append((topic_filter, handler))
        return topic_filter

    @property
    def filters(self) -> list[str]:
        """The topic filters to subscribe to on every connection."""
        return [f for f, _ in self._routes]

    def dispatch(self, message: InboundMessage, reply: Reply) -> None:
        """Start the handler for ``message`` (in its own task), or count it ignored."""
        self.stats.received += 1
        handler = self._handler_for(message.topic)
        if handler is None:
            self.stats.ignored += 1
            return
        if len(self._running) >= self.max_running:
            self.stats.dropped += 1
            return
        task = asyncio.ensure_future(self._run(handler, message, reply))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    def _handler_for(self, topic: str) -> Handler | None:
        if not topic.startswith(self.prefix):
            return None
        for topic_filter, handler in self._routes:
            if topic_matches(topic_filter, topic):
                return handler
        return None

    async def _run(self, handler: Handler, message: InboundMessage, reply: Reply) -> None:
        try:
            await handler(message, reply)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.stats.failed += 1
            key = (getattr(handler, "__qualname__", repr(handler)), type(exc).__name__)
            if key not in self._logged:
                self._logged.add(key)
                log.warning("inbound handler for %s failed: %s", message.topic, exc)
            else:
                log.debug("inbound handler for %s failed again: %s", message.topic, exc)

    async def idle(self) -> None:
        """Wait until no handler is running (tests, shutdown)."""
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)

    async def close(self) -> None:
        """Cancel the running handlers (the agent is stopping)."""
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*list(self._running), return_exceptions=True)
