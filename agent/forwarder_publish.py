"""QoS 1 publishing on one aiomqtt connection, with PUBACK reason codes (see Publisher).

Split out of agent/forwarder.py, which owns the connection loop and the outbox side.
aiomqtt 2.5.1 ignores PUBACK reason codes and the broker's limits, so this module talks
to the paho client aiomqtt drives.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Collection
from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from agent.forwarder_wire import Wire
from agent.publish_deadline import AttemptLedger

log = logging.getLogger("agent.forwarder")

_MAX_REMAINING = 268_435_455  # MQTT's largest Remaining Length


def _fixed_header(first: int, remaining: int) -> bytes:
    """The fixed header: the first byte, then Remaining Length (variable byte integer)."""
    out = bytearray((first,))
    while True:
        byte, remaining = remaining & 0x7F, remaining >> 7
        out.append(byte | 0x80 if remaining else byte)
        if not remaining:
            return bytes(out)


_REASONS: dict[int, ReasonCode] = {}


def puback_reason(code: int) -> ReasonCode:
    """paho's ReasonCode for a PUBACK reason code, one object per code."""
    reason = _REASONS.get(code)
    if reason is None:
        reason = _REASONS[code] = ReasonCode(PacketTypes.PUBACK, identifier=code)
    return reason


class Refused(str):
    """paho refused a message locally (ValueError): it can never be sent as it is."""

    __slots__ = ()


class NegativeAck(Exception):  # noqa: N818 - named after the MQTT packet
    def __init__(self, reason: ReasonCode) -> None:
        super().__init__(f"PUBACK {int(reason.value):#04x} {reason}")
        self.reason = reason


class DeadlinePassed(aiomqtt.MqttError):
    """The oldest publish attempt reached its deadline (agent/publish_deadline.py): the
    connection is given up. Its own words, not the disconnect that follows, say why."""


class Publisher:
    """QoS 1 publishing on aiomqtt's connection, with PUBACK reason codes.

    aiomqtt 2.5.1 completes ``publish`` on any PUBACK and drops the reason code, and it
    spends a task per publish on its timeout. We queue our PUBLISH packets on the paho
    client that aiomqtt drives (its socket callbacks run in our event loop), take each
    PUBACK with its reason code from agent/forwarder_wire.py and hook ``on_disconnect``,
    so that a lost connection wakes the waiter at once. The outbox row is the message's
    only record: paho keeps no copy of it, so nothing is re-sent behind our back either.

    The in-flight window is ours, not paho's (paho runs with an unlimited window): paho
    would keep the overflow in its own queue and, on every PUBACK, scan its whole
    in-flight table for the next message to send. We keep the overflow in a deque and
    send the next message from inside the PUBACK callback, so the wire never waits for
    an event-loop round trip and each PUBACK costs O(1).

    Each attempt on the wire has a deadline (agent/publish_deadline.py): one timer, armed
    for the oldest attempt's deadline, gives up the connection when it passes, wherever
    the forwarder is at that moment; the outcome of every attempt goes into ``ledger``.
    """

    def __init__(
        self,
        client: aiomqtt.Client,
        *,
        window: int = 64,
        ledger: AttemptLedger | None = None,
        deadline_s: float = 10.0,
    ) -> None:
        self._paho = client._client  # the hook point aiomqtt 2.x offers
        self._window = window
        self.ledger = ledger if ledger is not None else AttemptLedger(deadline_s)
        self._deadline_s = self.ledger.deadline_s
        # Attempts in send order (paho mid); the first one still in _rows is the oldest.
        self._order: deque[int] = deque()
        self._head_since = 0.0  # when the oldest attempt became the oldest
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self._rows: dict[int, int] = {}  # MQTT packet id -> outbox row id, on the wire
        self._queued: deque[tuple[int, str, bytes, bool]] = deque()  # waiting for the window
        self._topics: dict[str, bytes] = {}  # topic -> its length-prefixed UTF-8 field
        self._v5 = self._paho.protocol == mqtt.MQTTv5
        self.results: list[tuple[int, ReasonCode | Refused | None]] = []
        self.progress = asyncio.Event()
        self.lost: BaseException | None = None  # the first cause stands
        self.lost_code: int | None = None  # the disconnect's reason code, if it had one
        self._wake_at = 0
        self._woken = False
        aiomqtt_on_disconnect: Any = self._paho.on_disconnect

        def on_disconnect(*args: Any) -> None:
            # (client, userdata, flags, reason, properties): the reason, not the flags.
            reason = args[3] if len(args) > 3 else ""
            if self.lost is None:  # a deadline, then our own disconnect: the deadline stands
                self.lost = aiomqtt.MqttError(f"connection lost: {reason}")
                self.lost_code = getattr(reason, "value", None)
            self.progress.set()
            aiomqtt_on_disconnect(*args)

        self._paho.on_disconnect = on_disconnect
        # paho's per-packet debug lines ("Received PUBACK …") cost a logger call per
        # message even when filtered out; connection changes are logged by the forwarder.
        self._paho.disable_logger()
        Wire(self._paho, self._acked)

    def _acked(self, mid: int, code: int) -> bool:
        """A PUBACK (from Wire): record its outcome; False when the id is not ours."""
        row = self._rows.pop(mid, None)
        if row is None:
            return False
        self.results.append((row, None if code < 0x80 else puback_reason(code)))
        if not self._closed:
            self._ended(mid)
        if self._queued:
            self._send_queued()
        if len(self.results) >= self._wake_at:
            self.progress.set()
        return True

    def publish(self, row_id: int, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Send one message, or queue it behind the window; its outcome appears in
        ``results`` later (a message paho refuses as it stands: a ``Refused`` outcome)."""
        if self.lost is not None:
            raise self.lost
        if self._queued or len(self._rows) >= self._window:
            self._queued.append((row_id, topic, payload, retain))
        else:
            self._send(row_id, topic, payload, retain)

    def send_untracked(
        self, topic: str, payload: bytes, correlation: bytes | None, *, retain: bool = False
    ) -> None:
        """Send a reply or a status (QoS 1, outside the window, never in the outbox):
        nobody waits for its PUBACK; a reply lost with the connection is asked for again,
        a status is sent anew by the next connection."""
        if self.lost is not None:
            return
        props: Properties | None = None
        if correlation is not None:
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            props.CorrelationData = correlation
        try:
            # paho's own publish: its PUBACK is not ours, so Wire hands it back to paho.
            self._paho.publish(topic, payload, qos=1, retain=retain, properties=props)
        except ValueError as exc:
            log.warning("reply on %s not sendable: %s", topic, exc)

    def _send_queued(self) -> None:
        """Fill the window from the queue (called from paho's PUBACK handling)."""
        while self._queued and len(self._rows) < self._window and self.lost is None:
            row_id, topic, payload, retain = self._queued.popleft()
            try:
                self._send(row_id, topic, payload, retain)
            except aiomqtt.MqttError as exc:
                # The rows stay in the outbox; the next connection sends them again.
                self.lost = exc
                self.progress.set()

    def _send(self, row_id: int, topic: str, payload: bytes, retain: bool) -> None:
        """Encode one QoS 1 PUBLISH, book its attempt and queue it on paho's connection.

        paho's ``publish`` builds a message object, a message-info object with its own
        lock and condition, and an in-flight table entry per message, all of which the
        outbox already keeps; the packet itself is the same bytes."""
        try:
            field = self._topic_field(topic)
            if len(payload) > _MAX_REMAINING:
                raise ValueError("Payload too large.")
        except ValueError as exc:
            # A topic MQTT cannot carry, a payload over the MQTT limit: no retry can
            # help; the forwarder keeps it as a dead letter.
            self.results.append((row_id, Refused(str(exc))))
            return
        paho = self._paho
        if paho._sock is None:
            raise aiomqtt.MqttCodeError(mqtt.MQTT_ERR_NO_CONN, "Could not publish message")
        mid = paho._mid_generate()
        props = b"\x00" if self._v5 else b""  # no properties
        remaining = len(field) + 2 + len(props) + len(payload)
        packet = b"".join(
            (_fixed_header(0x32 | retain, remaining), field, mid.to_bytes(2, "big"), props, payload)
        )
        self._rows[mid] = row_id
        self._book(mid)
        paho._packet_queue(mqtt.PUBLISH, packet, mid, 1)

    def _book(self, mid: int) -> None:
        """Start attempt ``mid``'s bookkeeping; the first outstanding one starts the clock."""
        if self._closed:
            return
        ledger = self.ledger
        ledger.started += 1
        if len(self._rows) > ledger.wire_peak:
            ledger.wire_peak = len(self._rows)
        if not self._order:
            # Nothing was outstanding: the broker's silence so far is our idleness, not
            # its fault. The deadline runs from now.
            self._head_since = time.monotonic()
            if self._timer is None:
                self._arm(self._head_since + self._deadline_s)
        self._order.append(mid)

    def _topic_field(self, topic: str) -> bytes:
        field = self._topics.get(topic)
        if field is None:
            raw = topic.encode()
            if b"+" in raw or b"#" in raw:
                raise ValueError("Publish topic cannot contain wildcards.")
            if len(raw) > 65535:
                raise ValueError("Publish topic is too long.")
            if len(self._topics) >= 256:  # attachment topics carry their event id
                self._topics.clear()
            field = self._topics[topic] = len(raw).to_bytes(2, "big") + raw
        return field

    def _ended(self, mid: int) -> None:
        """Book the PUBACK of attempt ``mid``; the next oldest one's deadline starts."""
        self.ledger.acknowledged += 1
        order = self._order
        if order and order[0] == mid:
            now = time.monotonic()
            self.ledger.late(now - self._head_since - self._deadline_s)
            order.popleft()
            while order and order[0] not in self._rows:  # acknowledged out of order
                order.popleft()
            self._head_since = now

    def _arm(self, when: float) -> None:
        self._timer = asyncio.get_running_loop().call_at(when, self._on_deadline)

    def _on_deadline(self) -> None:
        """The timer: rearm for the oldest attempt's deadline, or give up the connection."""
        self._timer = None
        if self._closed or not self._order:
            return
        due = self._head_since + self._deadline_s
        now = time.monotonic()
        if now < due:
            self._arm(due)
            return
        self.ledger.expired += 1
        self.ledger.late(now - due)
        self._order.popleft()
        self.close(already_ended=1)
        self.lost = DeadlinePassed(f"no PUBACK for {self._deadline_s:g} s; broker unresponsive")
        self.progress.set()

    def close(self, *, already_ended: int = 0) -> None:
        """End every open attempt with its connection (their rows are sent again)."""
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        open_ = len(self._rows) - already_ended
        if open_ > 0:
            self.ledger.with_connection += open_
            if self._order:
                now = time.monotonic()
                self.ledger.late(now - self._head_since - self._deadline_s)
        self._order.clear()

    def refuse(self, row_id: int, reason: str) -> None:
        """Record a message we will not send as it is (too large for this broker)."""
        self.results.append((row_id, Refused(reason)))
        if len(self.results) >= self._wake_at:
            self.progress.set()

    def oldest_open(self) -> tuple[int | None, int]:
        """The oldest outbox row on the wire with no outcome yet (``None``: none, or the
        birth) and how many are on the wire; read before ``close``."""
        row = self._rows.get(self._order[0]) if self._order else None
        return (row if row is not None and row >= 0 else None), len(self._rows)

    @property
    def outstanding(self) -> int:
        """Messages handed to us whose outcome is not known yet."""
        return len(self._rows) + len(self._queued)

    def take_results(self) -> list[tuple[int, ReasonCode | Refused | None]]:
        out, self.results = self.results, []
        return out

    def unwake(self) -> None:
        self._woken = False

    def wake(self) -> None:
        """Wake a waiter early (used when the agent is stopping)."""
        self._woken = True
        self.progress.set()

    async def wait_results(self, want: int, timeout: float | None = None) -> None:
        """Wait until ``want`` outcomes are ready, the link is lost, or ``wake()``.

        Waking per PUBACK would cost an event-loop round trip per message; waking per
        chunk keeps the loop free for paho's socket callbacks. A broker that stops
        acknowledging is caught by the attempts' deadline (the timer sets ``lost``);
        ``timeout``, if given, is a shorter cap on this wait (at shutdown).
        """
        self._wake_at = max(1, want)
        try:
            async with asyncio.timeout(timeout):
                await self._wait_for_outcomes()
        except TimeoutError:
            raise aiomqtt.MqttError(f"no PUBACK within {timeout:g} s") from None
        finally:
            self._wake_at = 0
        if self.lost is not None and not self.results:
            raise self.lost

    async def _wait_for_outcomes(self) -> None:
        while len(self.results) < self._wake_at:
            if self.lost is not None:
                raise self.lost
            if self._woken:  # woken before we got here: clearing would lose it
                self._woken = False
                return
            if not self._rows and not self._queued:
                return  # nothing left that could produce an outcome
            self.progress.clear()
            await self.progress.wait()
            if self._woken:
                self._woken = False
                return

    async def publish_and_wait(
        self, topic: str, payload: bytes, *, retain: bool, timeout: float | None = None
    ) -> None:
        """Publish one message and wait for its PUBACK; raise NegativeAck if refused."""
        self.publish(-1, topic, payload, retain=retain)
        while True:
            for i, (row, failed) in enumerate(self.results):
                if row == -1:
                    del self.results[i]
                    if isinstance(failed, Refused):
                        raise aiomqtt.MqttError(f"not publishable: {failed}")
                    if failed is not None:
                        raise NegativeAck(failed)
                    return
            await self.wait_results(len(self.results) + 1, timeout)


def publish_packet_size(topic: str, payload: bytes) -> int:
    """Bytes of an MQTT v5 QoS 1 PUBLISH without properties (what Maximum Packet Size caps)."""
    remaining = 2 + len(topic.encode()) + 2 + 1 + len(payload)
    length_bytes = next(
        n for n, top in ((1, 128), (2, 16_384), (3, 2**21), (4, 2**28)) if remaining < top
    )
    return 1 + length_bytes + remaining


class BrokerLimits:
    """What the broker's CONNACK said about us (MQTT v5 properties), per connection.

    aiomqtt keeps CONNACK properties to itself, so paho's ``on_connect`` is wrapped.
    """

    def __init__(self, client: aiomqtt.Client) -> None:
        self.max_packet: int | None = None
        paho = client._client
        aiomqtt_on_connect: Any = paho.on_connect

        def on_connect(c: Any, userdata: Any, flags: Any, reason: Any, props: Any = None) -> None:
            size = getattr(props, "MaximumPacketSize", None)
            self.max_packet = int(size) if size else None
            aiomqtt_on_connect(c, userdata, flags, reason, props)

        paho.on_connect = on_connect


# PUBACK reasons that describe the broker's moment, not the message: retried, not
# dead-lettered (MQTT v5 §3.4.2.1: unspecified error, implementation specific error,
# quota exceeded).
TRANSIENT_REASONS = frozenset({0x80, 0x83, 0x97})


def classify(
    results: list[tuple[int, ReasonCode | Refused | None]],
    in_flight: dict[int, str],
    *,
    report_ids: Collection[str],
    reasons: dict[str, int],
) -> tuple[list[int], list[tuple[int, str]], int, int]:
    """Split outcomes into delivered, rejected (with reasons), transient refusals (left
    pending, sent again after a backoff) and how many rejections to report; counts
    rejection reasons into ``reasons``."""
    delivered: list[int] = []
    rejected: list[tuple[int, str]] = []
    transient = reportable = 0
    for row_id, failed in results:
        event_id = in_flight.pop(row_id, None)
        if failed is None:
            delivered.append(row_id)
            continue
        if isinstance(failed, Refused):
            reason, key = f"not publishable: {failed}", "client"
        elif int(failed.value) in TRANSIENT_REASONS:
            transient += 1
            continue
        else:
            reason, key = str(NegativeAck(failed)), f"{int(failed.value):#04x}"
        rejected.append((row_id, reason))
        reasons[key] = reasons.get(key, 0) + 1
        # A refused report of refusals is not reported again: with an ACL that denies
        # everything that would be one more alarm per interval, forever.
        if event_id not in report_ids:
            reportable += 1
    return delivered, rejected, transient, reportable


def retrieve_disconnect(client: aiomqtt.Client) -> None:
    """Mark aiomqtt's "disconnected" future as seen once we are done with a client.

    aiomqtt sets an exception on it at every unexpected disconnection; nobody awaits it
    when we drop the client and build a new one, so asyncio would log "Future exception
    was never retrieved" for every lost connection.
    """
    for fut in (client._connected, client._disconnected):
        if fut.done() and not fut.cancelled():
            fut.exception()
