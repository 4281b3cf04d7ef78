"""The forwarder's reconnect path: notice a lost connection at once, then wait on the
schedule (agent/backoff.py), cut short by a stop or by an alarm that arrived meanwhile.

Split from agent/forwarder.py (issue 19 item 5). Issue 19 measured 39 s from the broker's
return to the first data after a 60 s outage; two causes, both handled here: the pump
alone noticed a dropped connection only when a PUBACK timed out or keepalive expired
(~30 s), and the 60 s backoff cap (see agent/backoff.py and docs/operations.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Coroutine
from typing import Any

import aiomqtt

from agent.backoff import ReconnectSchedule
from agent.events import Priority
from agent.forwarder_publish import Publisher
from agent.inbound import Inbound, InboundMessage
from buffer.outbox import Outbox

_ALARMS_TRIED_MAX = 4096

log = logging.getLogger("agent.forwarder")


async def pump_until_lost(client: aiomqtt.Client, pump_coro: Coroutine[Any, Any, None]) -> None:
    """Run the pump; end it as soon as aiomqtt sees the connection drop (raises
    ``MqttError``). The pump's own outcome, errors included, otherwise."""
    pump = asyncio.ensure_future(pump_coro)
    lost = asyncio.ensure_future(asyncio.shield(client._disconnected))
    try:
        await asyncio.wait({pump, lost}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if lost.done() and not lost.cancelled():
            lost.exception()  # seen: no "Future exception was never retrieved"
        lost.cancel()
        if not pump.done():
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump  # its finally settles what was acknowledged
    if not pump.cancelled():
        pump.result()
        return
    raise aiomqtt.MqttError("connection lost")


async def wait_to_reconnect(
    schedule: ReconnectSchedule,
    stop: asyncio.Event,
    outbox: Outbox,
    tried: set[int],
    *,
    refused: bool = False,
) -> None:
    """Sleep the drawn delay, cut short by ``stop`` or (unless our credentials were
    refused, which no retry fixes sooner) by an alarm waiting to go."""
    delay = schedule.next_delay(refused=refused)
    log.debug(
        "next connection attempt in %.1f s%s", delay, " (credentials refused)" if refused else ""
    )
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(delay):
            while not stop.is_set():
                if not refused and await alarm_waiting(outbox, tried):
                    # At once, but at most one attempt per alarm_gap_s.
                    await asyncio.sleep(schedule.alarm_gap_left())
                    return
                outbox.changed.clear()
                waits = [asyncio.ensure_future(e.wait()) for e in (stop, outbox.changed)]
                try:
                    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for task in waits:
                        task.cancel()


async def alarm_waiting(outbox: Outbox, tried: set[int]) -> bool:
    """An alarm no attempt was cut short for yet: one per alarm, so an alarm stuck
    through a long outage (or a broker that drops us) is no 1 s retry loop."""
    if len(tried) > _ALARMS_TRIED_MAX:  # delivered ids linger: bound them
        tried.clear()
    try:
        rows = await outbox.pending(1, exclude=tried)
    except sqlite3.Error:
        return False
    if not rows or rows[0].priority < Priority.ALARM:
        return False
    tried.add(rows[0].id)
    return True


async def listen(client: aiomqtt.Client, inbound: Inbound, publisher: Publisher) -> None:
    """Subscribe (QoS 1) to the gateway's inbound filters and dispatch what arrives,
    until the connection ends. Each connection is a clean session, so the filters are
    subscribed again every time; what the platform sent meanwhile is asked for again
    by its own retry (receipts, commands)."""
    for topic_filter in inbound.filters:
        await client.subscribe(topic_filter, qos=1)
    async for message in client.messages:
        props = message.properties
        payload = message.payload
        inbound.dispatch(
            InboundMessage(
                topic=message.topic.value,
                payload=payload if isinstance(payload, bytes) else str(payload).encode(),
                response_topic=getattr(props, "ResponseTopic", None),
                correlation_data=getattr(props, "CorrelationData", None),
                user_properties=_user_properties(props),
            ),
            publisher.send_untracked,
        )


def _user_properties(props: object) -> tuple[tuple[str, str], ...]:
    """paho's ``UserProperty`` (a list of name/value pairs), as plain string pairs."""
    pairs = getattr(props, "UserProperty", None) or ()
    return tuple((str(k), str(v)) for k, v in pairs)


async def pump_and_listen(
    client: aiomqtt.Client,
    pump_coro: Coroutine[Any, Any, None],
    inbound: Inbound | None,
    publisher: Publisher,
) -> None:
    """The pump, with the inbound listener beside it when anything is routed. The pump
    decides when the connection's work is done; the listener ends with it."""
    if inbound is None or not inbound.filters:
        await pump_coro
        return
    listener = asyncio.ensure_future(listen(client, inbound, publisher))
    try:
        await pump_coro
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            await listener
