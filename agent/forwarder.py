"""Forward the outbox to the central platform over MQTT v5, QoS 1 (the only aiomqtt user).

Delivery rules (see docs/events.md and ../shared/research/anchors-reliability.md §1):

* A row leaves the outbox only after the broker's PUBACK with a reason code < 0x80.
  aiomqtt 2.5.1 ignores PUBACK reason codes, so we hook paho's ``on_publish`` to see them;
  a negative PUBACK (e.g. 0x87, denied by the broker's ACL) dead-letters the row instead.
* Every connection uses a fresh ``aiomqtt.Client``: paho re-sends its in-memory queue
  when the same client reconnects, which would duplicate what the outbox re-sends anyway.
* Publishes are pipelined: up to ``inflight`` are awaiting their PUBACK at once.
* Reconnects use full-jitter exponential backoff; TLS never falls back to plaintext.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from agent.backoff import full_jitter
from agent.config import MqttConfig
from agent.events import Event, Priority, Severity
from agent.tls import build_tls_context
from buffer.outbox import Outbox, OutboxRow

log = logging.getLogger(__name__)

_REJECT_REPORT_INTERVAL_S = 60.0
_SETTLE_CHUNK = 256
_STABLE_AFTER_S = 30.0  # a connection that lasted this long resets the reconnect backoff


class _QuietPendingCalls(logging.Filter):
    """aiomqtt warns for every publish beyond 10 outstanding; our window is deliberate."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pending publish calls" not in record.getMessage()


_mqtt_log = logging.getLogger("agent.forwarder.mqtt")
_mqtt_log.addFilter(_QuietPendingCalls())


@dataclass
class ForwarderStats:
    delivered: int = 0
    dead_lettered: int = 0
    connects: int = 0
    connect_failures: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


class _Refused(str):
    """paho refused a message locally (ValueError): it can never be sent as it is."""

    __slots__ = ()


class NegativeAck(Exception):  # noqa: N818 - named after the MQTT packet
    def __init__(self, reason: ReasonCode) -> None:
        super().__init__(f"PUBACK {int(reason.value):#04x} {reason}")
        self.reason = reason


class _Publisher:
    """QoS 1 publishing on aiomqtt's connection, with PUBACK reason codes.

    aiomqtt 2.5.1 completes ``publish`` on any PUBACK and drops the reason code, and it
    spends a task per publish on its timeout. We publish through the paho client that
    aiomqtt drives (its socket callbacks run in our event loop) and hook ``on_publish``
    and ``on_disconnect``: each PUBACK is recorded against its message id together with
    its reason code, and a lost connection wakes the waiter at once.

    The in-flight window is ours, not paho's (paho runs with an unlimited window): paho
    would keep the overflow in its own queue and, on every PUBACK, scan its whole
    in-flight table for the next message to send. We keep the overflow in a deque and
    send the next message from inside the PUBACK callback, so the wire never waits for
    an event-loop round trip and each PUBACK costs O(1).
    """

    def __init__(self, client: aiomqtt.Client, *, window: int = 64) -> None:
        self._paho = client._client  # the hook point aiomqtt 2.x offers
        self._window = window
        self._rows: dict[int, int] = {}  # paho mid -> outbox row id, on the wire
        self._queued: deque[tuple[int, str, bytes, bool]] = deque()  # waiting for the window
        self._early: dict[int, ReasonCode | _Refused | None] = {}
        self.results: list[tuple[int, ReasonCode | _Refused | None]] = []
        self.progress = asyncio.Event()
        self.lost: BaseException | None = None
        self._wake_at = 0
        self._woken = False
        self._last_ack = time.monotonic()
        aiomqtt_on_disconnect: Any = self._paho.on_disconnect

        def on_publish(c: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
            failed = reason if isinstance(reason, ReasonCode) and reason.is_failure else None
            row = self._rows.pop(mid, None)
            if row is None:
                self._early[mid] = failed
            else:
                self.results.append((row, failed))
            self._last_ack = time.monotonic()
            if self._queued:
                self._send_queued()
            if len(self.results) >= self._wake_at:
                self.progress.set()
            # aiomqtt's own on_publish is not chained: every publish on this connection
            # goes through this class, so it would only look up (and miss) each mid.

        def on_disconnect(*args: Any) -> None:
            self.lost = aiomqtt.MqttError(f"connection lost: {args[2] if len(args) > 2 else ''}")
            self.progress.set()
            aiomqtt_on_disconnect(*args)

        self._paho.on_publish = on_publish
        self._paho.on_disconnect = on_disconnect
        # paho's per-packet debug lines ("Received PUBACK …") cost a logger call per
        # message even when filtered out; connection changes are logged by the forwarder.
        self._paho.disable_logger()

    def publish(self, row_id: int, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Send one message, or queue it behind the window; its outcome appears in
        ``results`` later (a message paho refuses as it stands: a ``_Refused`` outcome)."""
        if self.lost is not None:
            raise self.lost
        if not self._rows:
            # Nothing was outstanding: the broker's silence so far is our idleness, not
            # its fault. Time the PUBACK deadline from now.
            self._last_ack = time.monotonic()
        if self._queued or len(self._rows) >= self._window:
            self._queued.append((row_id, topic, payload, retain))
        else:
            self._send(row_id, topic, payload, retain)

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
        try:
            info = self._paho.publish(topic, payload, qos=1, retain=retain)
        except ValueError as exc:
            # A topic paho cannot carry, a payload over the MQTT limit: no retry can
            # help; the forwarder keeps it as a dead letter.
            self.results.append((row_id, _Refused(str(exc))))
            return
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise aiomqtt.MqttCodeError(info.rc, "Could not publish message")
        if info.mid in self._early:  # PUBACK already processed (defensive; not expected)
            self.results.append((row_id, self._early.pop(info.mid)))
        else:
            self._rows[info.mid] = row_id

    @property
    def outstanding(self) -> int:
        """Messages handed to us whose outcome is not known yet."""
        return len(self._rows) + len(self._queued)

    def take_results(self) -> list[tuple[int, ReasonCode | _Refused | None]]:
        out, self.results = self.results, []
        return out

    def unwake(self) -> None:
        self._woken = False

    def wake(self) -> None:
        """Wake a waiter early (used when the agent is stopping)."""
        self._woken = True
        self.progress.set()

    async def wait_results(self, want: int, timeout: float) -> None:
        """Wait until ``want`` outcomes are ready, the link is lost, or ``wake()``.

        Waking per PUBACK would cost an event-loop round trip per message; waking per
        chunk keeps the loop free for paho's socket callbacks. ``timeout`` is measured
        from the last PUBACK: a broker that acknowledges slowly is fine, a silent one is
        not.
        """
        self._wake_at = max(1, want)
        try:
            while len(self.results) < self._wake_at:
                if self.lost is not None:
                    raise self.lost
                if self._woken:  # woken before we got here: clearing would lose it
                    self._woken = False
                    return
                self.progress.clear()
                silent_for = time.monotonic() - self._last_ack
                try:
                    async with asyncio.timeout(max(0.0, timeout - silent_for)):
                        await self.progress.wait()
                except TimeoutError:
                    if time.monotonic() - self._last_ack >= timeout:
                        raise aiomqtt.MqttError(
                            f"no PUBACK for {timeout:.0f} s; broker unresponsive"
                        ) from None
                    continue
                if self._woken:
                    self._woken = False
                    return
        finally:
            self._wake_at = 0
        if self.lost is not None and not self.results:
            raise self.lost

    async def publish_and_wait(
        self, topic: str, payload: bytes, *, retain: bool, timeout: float
    ) -> None:
        """Publish one message and wait for its PUBACK; raise NegativeAck if refused."""
        self.publish(-1, topic, payload, retain=retain)
        self._last_ack = time.monotonic()
        while True:
            for i, (row, failed) in enumerate(self.results):
                if row == -1:
                    del self.results[i]
                    if isinstance(failed, _Refused):
                        raise aiomqtt.MqttError(f"not publishable: {failed}")
                    if failed is not None:
                        raise NegativeAck(failed)
                    return
            await self.wait_results(len(self.results) + 1, timeout)


class Forwarder:
    """Drains the outbox to the broker until ``stop`` is set, then says ``offline``."""

    def __init__(
        self,
        cfg: MqttConfig,
        *,
        gateway_id: str,
        outbox: Outbox,
        birth: dict[str, Any],
        report: Callable[[Event], Any] | None = None,
    ) -> None:
        self._cfg = cfg
        self._gw = gateway_id
        self._outbox = outbox
        self._birth = birth
        self._report = report
        self._prefix = f"edge/{gateway_id}/"
        self.status_topic = f"{self._prefix}status"
        self.stats = ForwarderStats()
        self.connected = asyncio.Event()
        self._tls = build_tls_context(cfg)
        self._uplink_up: bool | None = None
        self._rejects_since_report = 0
        self._last_reject_report = 0.0
        self._report_ids: deque[str] = deque(maxlen=64)  # our own rejection reports

    def _status(self, state: str, **extra: Any) -> bytes:
        doc = {"state": state, "gateway": self._gw, **extra}
        return json.dumps(doc, separators=(",", ":")).encode()

    def _client(self) -> aiomqtt.Client:
        cfg = self._cfg
        return aiomqtt.Client(
            cfg.host,
            port=cfg.effective_port,
            identifier=self._gw,
            username=cfg.username,
            password=cfg.password.get_secret_value() if cfg.password else None,
            protocol=aiomqtt.ProtocolVersion.V5,
            keepalive=cfg.keepalive_s,
            timeout=cfg.timeout_s,
            # Unlimited in paho: _Publisher keeps the window (see its docstring).
            max_inflight_messages=0,
            tls_context=self._tls,
            logger=_mqtt_log,
            will=aiomqtt.Will(
                self.status_topic,
                self._status("offline", reason="connection lost"),
                qos=1,
                retain=True,
            ),
        )

    async def run(self, stop: asyncio.Event) -> None:
        attempt = 0
        while not stop.is_set():
            client = self._client()
            up_since: float | None = None
            try:
                async with client:
                    publisher = _Publisher(client, window=self._cfg.inflight)
                    self.stats.connects += 1
                    up_since = time.monotonic()
                    await publisher.publish_and_wait(
                        self.status_topic,
                        self._status("online", **self._birth),
                        retain=True,
                        timeout=self._cfg.timeout_s,
                    )
                    self._transition(up=True)
                    self.connected.set()
                    await self._pump(publisher, stop)
                    await self._say_offline(publisher)
                    return
            except (aiomqtt.MqttError, NegativeAck, OSError) as exc:
                self.connected.clear()
                self.stats.connect_failures += 1
                self._transition(up=False, why=exc)
            # The backoff restarts only after a connection that held: a broker that
            # accepts and then drops us at once must not be hammered at the base delay.
            if up_since is not None and time.monotonic() - up_since >= _STABLE_AFTER_S:
                attempt = 0
            delay = full_jitter(attempt, base=0.5, cap=self._cfg.reconnect_max_s)
            attempt += 1
            try:
                async with asyncio.timeout(delay):
                    await stop.wait()
            except TimeoutError:
                pass

    def _transition(self, *, up: bool, why: BaseException | None = None) -> None:
        # Log when the uplink changes state, not every failed attempt while it is down.
        if self._uplink_up is up:
            log.debug("uplink still %s: %s", "up" if up else "down", why)
            return
        self._uplink_up = up
        if up:
            log.info("uplink to %s:%d is up", self._cfg.host, self._cfg.effective_port)
        else:
            log.warning(
                "uplink to %s:%d is down: %s", self._cfg.host, self._cfg.effective_port, why
            )

    async def _say_offline(self, publisher: _Publisher) -> None:
        try:
            await publisher.publish_and_wait(
                self.status_topic,
                self._status("offline", reason="shutdown"),
                retain=True,
                timeout=min(self._cfg.timeout_s, 3.0),
            )
        except (aiomqtt.MqttError, NegativeAck) as exc:
            log.warning("could not publish offline status: %s", exc)

    async def _pump(self, publisher: _Publisher, stop: asyncio.Event) -> None:
        """Keep ``inflight`` publishes on the wire, refilling as PUBACKs return.

        Rows are read from the outbox a batch at a time; outcomes are settled in chunks
        (acknowledged rows deleted, refused rows dead-lettered) while publishing goes
        on. Whatever paho holds would die with the process, which is harmless: rows
        leave the outbox only after their PUBACK.
        """
        window = self._cfg.inflight
        # The publisher keeps ``window`` on the wire and sends the next queued message
        # from inside PUBACK handling, so we hand it several windows and refill in steps:
        # the wire never waits for an event-loop round trip.
        handed = 16 * window
        step = min(256, handed // 4)
        queue: deque[OutboxRow] = deque()
        in_flight: dict[int, str] = {}  # fetched and not yet settled: row id -> event id
        waker = asyncio.create_task(self._wake_on(stop, publisher))
        try:
            while not stop.is_set():
                while queue and publisher.outstanding < handed:
                    row = queue.popleft()
                    publisher.publish(row.id, self._prefix + row.topic, row.payload)
                if not queue:
                    await self._settle(publisher, in_flight)
                    self._outbox.changed.clear()
                    fresh = await self._outbox.pending(
                        self._cfg.batch, exclude=frozenset(in_flight)
                    )
                    if fresh:
                        queue.extend(fresh)
                        in_flight.update((r.id, r.event_id) for r in fresh)
                        continue
                    if not in_flight:
                        await self._wait_for_rows(stop)
                        continue
                elif len(publisher.results) >= _SETTLE_CHUNK:
                    await self._settle(publisher, in_flight)
                if publisher.outstanding:
                    want = len(publisher.results) + min(step, publisher.outstanding)
                    await publisher.wait_results(want, self._cfg.timeout_s)
            # Stopping: give what is on the wire a moment to be acknowledged.
            publisher.unwake()
            try:
                async with asyncio.timeout(min(self._cfg.timeout_s, 2.0)):
                    while publisher.outstanding:
                        want = len(publisher.results) + publisher.outstanding
                        await publisher.wait_results(want, self._cfg.timeout_s)
            except TimeoutError:
                log.warning(
                    "%d publishes unacknowledged at shutdown; they will be re-sent",
                    publisher.outstanding,
                )
        finally:
            waker.cancel()
            await self._settle(publisher, in_flight)

    @staticmethod
    async def _wake_on(stop: asyncio.Event, publisher: _Publisher) -> None:
        await stop.wait()
        publisher.wake()

    async def _wait_for_rows(self, stop: asyncio.Event) -> None:
        waiter = asyncio.ensure_future(self._outbox.changed.wait())
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            stopper.cancel()

    async def _settle(self, publisher: _Publisher, in_flight: dict[int, str]) -> None:
        results = publisher.take_results()
        if not results:
            return
        delivered: list[int] = []
        rejected: list[tuple[int, str]] = []
        reportable = 0
        for row_id, failed in results:
            event_id = in_flight.pop(row_id, None)
            if failed is None:
                delivered.append(row_id)
                continue
            if isinstance(failed, _Refused):
                reason, key = f"not publishable: {failed}", "client"
            else:
                reason, key = str(NegativeAck(failed)), f"{int(failed.value):#04x}"
            rejected.append((row_id, reason))
            self.stats.reasons[key] = self.stats.reasons.get(key, 0) + 1
            # A refused report of refusals is not reported again: with an ACL that
            # denies everything that would be one more alarm per interval, forever.
            if event_id not in self._report_ids:
                reportable += 1
        await self._outbox.ack(delivered)
        self.stats.delivered += len(delivered)
        if rejected:
            await self._outbox.dead_letter(rejected)
            self.stats.dead_lettered += len(rejected)
            if reportable:
                await self._report_rejects(reportable, rejected[-1][1])

    async def _report_rejects(self, n: int, reason: str) -> None:
        self._rejects_since_report += n
        now = time.monotonic()
        if now - self._last_reject_report < _REJECT_REPORT_INTERVAL_S:
            return
        self._last_reject_report = now
        count, self._rejects_since_report = self._rejects_since_report, 0
        log.error("broker refused %d publishes (last: %s); kept as dead letters", count, reason)
        if self._report is not None:
            event = Event(
                type="gateway.forward.rejected",
                subject="forwarder",
                data={
                    "rejected": count,
                    "last_reason": reason,
                    "dead_lettered_total": self.stats.dead_lettered,
                },
                priority=Priority.ALARM,
                severity=Severity.CRITICAL,
            )
            self._report_ids.append(event.id)
            await self._report(event)
