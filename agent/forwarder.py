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
import contextvars
import json
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
from paho.mqtt.reasoncodes import ReasonCode

from agent.backoff import full_jitter
from agent.config import MqttConfig
from agent.events import Event, Priority, Severity
from buffer.outbox import Outbox, OutboxRow

log = logging.getLogger(__name__)

# The paho message id of the publish just issued by the current task (see _AckTracker).
_last_mid: contextvars.ContextVar[int] = contextvars.ContextVar("edge_agent_last_mid")

_REJECT_REPORT_INTERVAL_S = 60.0


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
    last_reason: dict[str, int] = field(default_factory=dict)


class NegativeAck(Exception):  # noqa: N818 - named after the MQTT packet
    def __init__(self, reason: ReasonCode) -> None:
        super().__init__(f"PUBACK {int(reason.value):#04x} {reason}")
        self.reason = reason


class _AckTracker:
    """Expose PUBACK reason codes that aiomqtt 2.5.1 drops on the floor.

    Wraps the paho client's ``publish`` to learn each message id (stored in a context
    variable of the publishing task) and its ``on_publish`` to record failures, then lets
    aiomqtt's own callback complete the waiting publish as usual.
    """

    def __init__(self, client: aiomqtt.Client) -> None:
        self.failures: dict[int, ReasonCode] = {}
        paho = client._client  # noqa: SLF001 - the hook point aiomqtt 2.x offers
        original_publish = paho.publish
        original_on_publish = paho.on_publish

        def publish(*args: Any, **kwargs: Any) -> Any:
            info = original_publish(*args, **kwargs)
            _last_mid.set(info.mid)
            return info

        def on_publish(c: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
            if isinstance(reason, ReasonCode) and reason.is_failure:
                self.failures[mid] = reason
            original_on_publish(c, userdata, mid, reason, props)

        paho.publish = publish
        paho.on_publish = on_publish

    async def publish(self, client: aiomqtt.Client, topic: str, payload: bytes, *,
                      qos: int, retain: bool, timeout: float) -> None:
        try:
            await client.publish(topic, payload, qos=qos, retain=retain, timeout=timeout)
        finally:
            mid = _last_mid.get(None)
        if mid is not None:
            reason = self.failures.pop(mid, None)
            if reason is not None:
                raise NegativeAck(reason)


def build_tls_context(cfg: MqttConfig) -> ssl.SSLContext | None:
    """A verifying client context with our certificate; ``None`` only when insecure."""
    if cfg.tls is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(cfg.tls.ca))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(str(cfg.tls.cert), str(cfg.tls.key))
    return ctx


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
            max_inflight_messages=cfg.inflight,
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
            tracker = _AckTracker(client)
            try:
                async with client:
                    self.stats.connects += 1
                    attempt = 0
                    await tracker.publish(
                        client, self.status_topic, self._status("online", **self._birth),
                        qos=1, retain=True, timeout=self._cfg.timeout_s,
                    )
                    self._transition(up=True)
                    self.connected.set()
                    await self._pump(client, tracker, stop)
                    await self._say_offline(client, tracker)
                    return
            except (aiomqtt.MqttError, NegativeAck, OSError) as exc:
                self.connected.clear()
                self.stats.connect_failures += 1
                self._transition(up=False, why=exc)
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
            log.warning("uplink to %s:%d is down: %s", self._cfg.host,
                        self._cfg.effective_port, why)

    async def _say_offline(self, client: aiomqtt.Client, tracker: _AckTracker) -> None:
        try:
            await tracker.publish(client, self.status_topic,
                                  self._status("offline", reason="shutdown"),
                                  qos=1, retain=True, timeout=min(self._cfg.timeout_s, 3.0))
        except (aiomqtt.MqttError, NegativeAck) as exc:
            log.warning("could not publish offline status: %s", exc)

    async def _pump(self, client: aiomqtt.Client, tracker: _AckTracker,
                    stop: asyncio.Event) -> None:
        window = asyncio.Semaphore(self._cfg.inflight)
        while not stop.is_set():
            self._outbox.changed.clear()
            rows = await self._outbox.pending(self._cfg.batch)
            if not rows:
                waiter = asyncio.ensure_future(self._outbox.changed.wait())
                stopper = asyncio.ensure_future(stop.wait())
                try:
                    await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiter.cancel()
                    stopper.cancel()
                continue
            await self._send_batch(client, tracker, rows, window)

    async def _send_batch(self, client: aiomqtt.Client, tracker: _AckTracker,
                          rows: list[OutboxRow], window: asyncio.Semaphore) -> None:
        timeout = self._cfg.timeout_s

        async def one(row: OutboxRow) -> None:
            async with window:
                await tracker.publish(client, self._prefix + row.topic, row.payload,
                                      qos=1, retain=False, timeout=timeout)

        results = await asyncio.gather(*(one(r) for r in rows), return_exceptions=True)
        delivered: list[int] = []
        rejected: list[tuple[int, str]] = []
        failure: BaseException | None = None
        for row, result in zip(rows, results, strict=True):
            if result is None:
                delivered.append(row.id)
            elif isinstance(result, NegativeAck):
                rejected.append((row.id, str(result)))
                key = f"{int(result.reason.value):#04x}"
                self.stats.last_reason[key] = self.stats.last_reason.get(key, 0) + 1
            elif failure is None:
                failure = result
        # Settle what the broker answered before reacting to a broken connection.
        await self._outbox.ack(delivered)
        self.stats.delivered += len(delivered)
        if rejected:
            await self._outbox.dead_letter(rejected)
            self.stats.dead_lettered += len(rejected)
            await self._report_rejects(len(rejected), rejected[-1][1])
        if failure is not None:
            raise failure

    async def _report_rejects(self, n: int, reason: str) -> None:
        self._rejects_since_report += n
        now = time.monotonic()
        if now - self._last_reject_report < _REJECT_REPORT_INTERVAL_S:
            return
        self._last_reject_report = now
        count, self._rejects_since_report = self._rejects_since_report, 0
        log.error("broker refused %d publishes (last: %s); kept as dead letters", count, reason)
        if self._report is not None:
            await self._report(
                Event(
                    type="gateway.forward.rejected",
                    subject="forwarder",
                    data={"rejected": count, "last_reason": reason,
                          "dead_lettered_total": self.stats.dead_lettered},
                    priority=Priority.ALARM,
                    severity=Severity.CRITICAL,
                )
            )
