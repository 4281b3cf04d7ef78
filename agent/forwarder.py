"""Forward the outbox to the central platform over MQTT v5, QoS 1 (the only aiomqtt user).

Delivery rules (see docs/events.md and ../shared/research/anchors-reliability.md §1):

* A row leaves the outbox only after the broker's PUBACK with a reason code < 0x80.
  aiomqtt 2.5.1 ignores PUBACK reason codes, so we read them ourselves (forwarder_wire.py);
  a negative PUBACK (e.g. 0x87, denied by the broker's ACL) dead-letters the row instead.
* Every connection uses a fresh ``aiomqtt.Client``: paho re-sends its in-memory queue
  when the same client reconnects, which would duplicate what the outbox re-sends anyway.
* Publishes are pipelined: up to ``inflight`` are awaiting their PUBACK at once.
* A row the broker answers by dropping the connection, not with a PUBACK, is found and
  set aside as a dead letter (agent/forward_poison.py), so it cannot stall the uplink.
* Reconnects follow agent/backoff.py (jittered, growing to a short cap, at once for a waiting
  alarm); TLS never falls back to plaintext.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import aiomqtt

from agent.backoff import ReconnectSchedule
from agent.config import MqttConfig
from agent.endpoints import Endpoints
from agent.events import Event, Priority
from agent.forward_poison import EXPLAINED, PoisonWatch
from agent.forward_rejects import BusyBackoff, RejectReporter
from agent.forward_waits import either, pause, wake_on
from agent.forwarder_publish import (
    BrokerLimits,
    DeadlinePassed,
    NegativeAck,
    Publisher,
    classify,
    publish_packet_size,
    retrieve_disconnect,
)
from agent.forwarder_reconnect import pump_and_listen, pump_until_lost, wait_to_reconnect
from agent.gateway_events import GatewayStatus
from agent.inbound import Inbound
from agent.publish_deadline import AttemptLedger
from agent.tls import build_tls_context
from agent.uplink import ConnectionWatch, UplinkFailure, UplinkLog, describe
from buffer.outbox import Outbox, OutboxRow

log = logging.getLogger(__name__)

_SETTLE_CHUNK = 256


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
    transient_refusals: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


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
        shrink_image: Callable[[bytes, int], bytes | None] | None = None,
        inbound: Inbound | None = None,
    ) -> None:
        self._cfg = cfg
        # Routes for what the platform sends us (receipts, commands): agent/inbound.py.
        self.inbound = inbound
        # Re-encodes an evidence JPEG to at most N bytes (None if it cannot); provided by
        # the wiring, because only vision/ may use OpenCV.
        self._shrink_image = shrink_image
        self._limits: BrokerLimits | None = None
        self._gw = gateway_id
        self._outbox = outbox
        self._birth = birth
        self._rejects = RejectReporter(report)  # refusals -> gateway.forward.rejected
        self._poison = PoisonWatch()
        self._prefix = f"edge/{gateway_id}/"
        self.status_topic = f"{self._prefix}status"
        self.stats = ForwarderStats()
        # How every publish attempt ended, over all connections (agent/publish_deadline.py).
        self.attempts = AttemptLedger(cfg.timeout_s)
        self.connected = asyncio.Event()
        # Cleared by a wiring that routes after the birth (agent/app.py, uplink_first).
        self.routes_ready = asyncio.Event()
        self.routes_ready.set()
        self._tls = build_tls_context(cfg)
        self.endpoints = Endpoints(cfg.endpoints)  # host:port, then mqtt.failover
        # Up/down in words, logged on transitions (agent/uplink.py).
        self.uplink = UplinkLog(str(self.endpoints), refused_backoff_s=cfg.refused_backoff_s)
        # Rows the broker acknowledged whose delete failed (a locked or full database):
        # never re-sent, deleted again later. Bounded by the pump pausing while set.
        self._unacked: list[int] = []
        self._alarms_tried: set[int] = set()  # alarms a reconnect was cut short for
        self._store_trouble: str | None = None
        self._busy = BusyBackoff()  # a broker refusing for now (0x80, 0x83, 0x97)
        self._live: Publisher | None = None  # this connection's, once its birth is sent

    def _status(self, state: Literal["online", "offline"], **extra: Any) -> bytes:
        return GatewayStatus(state=state, gateway=self._gw, **extra).to_bytes()

    def rebirth(self, **fields: Any) -> None:
        """New birth fields (a live config apply): the retained status now and on reconnects."""
        self._birth.update(fields)
        if self._live is not None:
            status = self._status("online", **self._birth)
            self._live.send_untracked(self.status_topic, status, None, retain=True)

    def _client(self) -> aiomqtt.Client:
        cfg = self._cfg
        host, port = self.endpoints.current
        return aiomqtt.Client(
            host,
            port=port,
            identifier=self._gw,
            username=cfg.username,
            password=cfg.password.get_secret_value() if cfg.password else None,
            protocol=aiomqtt.ProtocolVersion.V5,
            keepalive=cfg.keepalive_s,
            timeout=cfg.timeout_s,
            # Unlimited in paho: Publisher keeps the window (see its docstring).
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
        schedule = ReconnectSchedule(
            cap=self._cfg.reconnect_max_s, refused_s=self._cfg.refused_backoff_s
        )
        while not stop.is_set():
            client = self._client()
            watch = ConnectionWatch()
            _mqtt_log.addFilter(watch)
            watch.attach(client)
            self._limits = BrokerLimits(client)
            schedule.attempting()
            refused = False
            publisher: Publisher | None = None
            convicted: int | None = None
            try:
                async with client:
                    publisher = Publisher(client, window=self._cfg.inflight, ledger=self.attempts)
                    self.stats.connects += 1
                    schedule.connected()
                    self.endpoints.connected()
                    await publisher.publish_and_wait(
                        self.status_topic,
                        self._status("online", **self._birth),
                        retain=True,
                    )
                    self._transition(up=True)
                    self.connected.set()
                    self._live = publisher
                    await self.routes_ready.wait()
                    await pump_until_lost(
                        client,
                        pump_and_listen(
                            client, self._pump(publisher, stop), self.inbound, publisher
                        ),
                    )
                    await self._say_offline(publisher)
                    return
            except (aiomqtt.MqttError, NegativeAck, OSError, sqlite3.Error) as exc:
                self.connected.clear()
                self.stats.connect_failures += 1
                failure = describe(watch.explain(exc))
                refused = failure.credentials_refused
                self._transition(up=False, failure=failure)
            finally:
                self._live = None
                if publisher is not None:
                    convicted = self._note_loss(publisher)
                    publisher.close()  # its open attempts end here; their rows are re-sent
                _mqtt_log.removeFilter(watch)
                retrieve_disconnect(client)
            if convicted is not None:
                await self._set_aside(convicted)
            if self.endpoints.failed():  # backoff between full rounds of brokers
                await wait_to_reconnect(
                    schedule, stop, self._outbox, self._alarms_tried, refused=refused
                )

    def _transition(self, *, up: bool, failure: UplinkFailure | None = None) -> None:
        self.uplink.where = str(self.endpoints)  # the broker tried last (mqtt.failover)
        self.uplink.transition(up=up, failure=failure)

    @property
    def uplink_state(self) -> Literal["connecting", "up", "down"]:
        return self.uplink.state

    @property
    def uplink_reason(self) -> str | None:
        return self.uplink.reason

    @property
    def uplink_since(self) -> float | None:
        return self.uplink.since

    async def _say_offline(self, publisher: Publisher) -> None:
        try:
            await publisher.publish_and_wait(
                self.status_topic,
                self._status("offline", reason="shutdown"),
                retain=True,
                timeout=min(self._cfg.timeout_s, 3.0),
            )
        except (aiomqtt.MqttError, NegativeAck) as exc:
            log.warning("could not publish offline status: %s", exc)

    async def _pump(self, publisher: Publisher, stop: asyncio.Event) -> None:
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
        waker = asyncio.create_task(wake_on(stop, publisher))
        try:
            while not stop.is_set():
                # One at a time while a suspect is among the next (agent/forward_poison.py);
                # the last one's outcome first, as it may end that.
                if self._poison.careful:
                    await self._settle(publisher, in_flight)
                cap = self._fill(publisher, queue, 1 if self._poison.careful else handed)
                if not queue:
                    await self._settle(publisher, in_flight)
                    self._outbox.changed.clear()
                    fresh = await self._fetch(in_flight, stop)
                    if fresh is None:
                        continue
                    if fresh:
                        queue.extend(fresh)
                        in_flight.update((r.id, r.event_id) for r in fresh)
                        self.attempts.held_peak = max(self.attempts.held_peak, len(in_flight))
                        continue
                    if not in_flight:
                        await either(self._outbox.changed, stop)
                        continue
                elif len(publisher.results) >= _SETTLE_CHUNK or cap == 1:
                    await self._settle(publisher, in_flight)
                if publisher.outstanding:
                    want = len(publisher.results) + min(step, publisher.outstanding)
                    await publisher.wait_results(want)
            # Stopping: give what is on the wire a moment to be acknowledged.
            publisher.unwake()
            try:
                async with asyncio.timeout(min(self._cfg.timeout_s, 2.0)):
                    while publisher.outstanding:
                        want = len(publisher.results) + publisher.outstanding
                        await publisher.wait_results(want)
            except TimeoutError:
                log.warning(
                    "%d publishes unacknowledged at shutdown; they will be re-sent",
                    publisher.outstanding,
                )
        finally:
            waker.cancel()
            await self._settle(publisher, in_flight)

    def _fill(self, publisher: Publisher, queue: deque[OutboxRow], cap: int) -> int:
        """Hand rows to the wire up to ``cap`` outstanding; a row of a suspect topic family
        goes alone, once the wire is empty. The cap that held: 1 once one went alone."""
        while queue and publisher.outstanding < cap:
            if self._poison.suspect(queue[0].topic):
                if publisher.outstanding:
                    break
                cap = 1
            row = queue.popleft()
            if self._send_row(publisher, row) and cap == 1:
                alarm = row.priority is Priority.ALARM
                self._poison.sending(row.id, row.topic, alarm=alarm)
        return cap

    def _send_row(self, publisher: Publisher, row: OutboxRow) -> bool:
        """Publish ``row`` (True), or refuse it here when it cannot fit the broker's Maximum
        Packet Size: sent anyway, the broker would drop the connection and the same row
        would go first after every reconnect, blocking the uplink (issue 9 item 2)."""
        topic = self._prefix + row.topic
        limit = self._limits.max_packet if self._limits is not None else None
        payload = row.payload
        if limit is not None and publish_packet_size(topic, payload) > limit:
            payload = self._fit_evidence(row, topic, limit) or b""
            if not payload:
                size = publish_packet_size(topic, row.payload)
                publisher.refuse(
                    row.id, f"{size} bytes over the broker's maximum packet size {limit}"
                )
                return False
        publisher.publish(row.id, topic, payload)
        return True

    def _fit_evidence(self, row: OutboxRow, topic: str, limit: int) -> bytes | None:
        """An evidence image (attachment, JPEG) re-encoded to fit, else ``None``."""
        if row.part == 0 or self._shrink_image is None or row.payload[:2] != b"\xff\xd8":
            return None
        room = limit - publish_packet_size(topic, b"")
        smaller = self._shrink_image(row.payload, room)
        if smaller is None or publish_packet_size(topic, smaller) > limit:
            return None
        log.warning(
            "evidence %s re-encoded from %d to %d bytes to fit the broker's limit",
            row.topic,
            len(row.payload),
            len(smaller),
        )
        return smaller

    async def _fetch(
        self, in_flight: dict[int, str], stop: asyncio.Event
    ) -> list[OutboxRow] | None:
        """The next batch, or ``None`` after a pause when the outbox cannot be read now
        (locked by a crew's sqlite3 shell, a full disk): the forwarder waits, never dies."""
        try:
            if self._unacked:
                await self._retry_unacked()
            fresh = await self._outbox.pending(
                self._cfg.batch, exclude=frozenset(in_flight) | frozenset(self._unacked)
            )
        except sqlite3.Error as exc:
            self._note_store(exc)
            await pause(stop)
            return None
        self._note_store(None)
        return fresh

    async def _retry_unacked(self) -> None:
        ids, self._unacked = self._unacked, []
        try:
            await self._outbox.ack(ids)
        except sqlite3.Error:
            self._unacked = ids
            raise
        self.stats.delivered += len(ids)

    def _note_store(self, exc: sqlite3.Error | None) -> None:
        """Log when the outbox starts and stops refusing the forwarder (transitions)."""
        why = None if exc is None else str(exc)
        if (why is None) == (self._store_trouble is None):
            return
        self._store_trouble = why
        if why is None:
            log.info("outbox usable again; forwarding resumes")
        else:
            log.error("outbox unusable for the forwarder (%s); retrying", why)

    async def _settle(self, publisher: Publisher, in_flight: dict[int, str]) -> None:
        results = publisher.take_results()
        if not results:
            return
        if self._poison.watching:
            self._poison.settled({row for row, _ in results})
        delivered, rejected, transient, reportable = classify(
            results, in_flight, report_ids=self._rejects.report_ids, reasons=self.stats.reasons
        )
        # Outcomes once taken are recorded even if the pump is cancelled meanwhile (the
        # connection dropped right after a PUBACK 0x87): a cancelled await would leave
        # the rows dead-lettered by the writer thread and never reported.
        await asyncio.shield(self._record(delivered, rejected, reportable))
        self.stats.transient_refusals += transient
        await self._busy.after(transient, progressed=bool(delivered))

    async def _record(
        self, delivered: list[int], rejected: list[tuple[int, str]], reportable: int
    ) -> None:
        try:
            await self._outbox.ack(delivered)
        except sqlite3.Error as exc:
            # Acknowledged but not deleted: keep the ids, never send them again, and
            # delete them once the outbox lets us (see _fetch).
            self._note_store(exc)
            self._unacked.extend(delivered)
        else:
            self.stats.delivered += len(delivered)
        if not rejected:
            return
        try:
            await self._outbox.dead_letter(rejected)
        except sqlite3.Error as exc:
            # Still pending in the outbox: sent again later, refused again, kept then.
            self._note_store(exc)
            return
        self.stats.dead_lettered += len(rejected)
        if reportable:
            await self._rejects.refused(reportable, rejected[-1][1], self.stats.dead_lettered)

    def _note_loss(self, publisher: Publisher) -> int | None:
        """Tell the poison watch how this connection ended; a convicted row, if any."""
        if publisher.lost is None:
            self._poison.ended()
            return None  # no disconnect seen (a refused birth, an outbox error)
        oldest, on_wire = publisher.oldest_open()
        silent = isinstance(publisher.lost, DeadlinePassed) or publisher.lost_code in EXPLAINED
        return self._poison.lost(oldest, on_wire, silent=silent)

    async def _set_aside(self, row_id: int) -> None:
        """Dead-letter a row the broker drops the connection for (forward_poison.py)."""
        reason = self._poison.reason()
        try:
            await self._outbox.dead_letter([(row_id, reason)])
        except sqlite3.Error as exc:  # still pending: it will be convicted again
            self._note_store(exc)
            return
        log.error("outbox row %d set aside as a dead letter: %s", row_id, reason)
        self.stats.dead_lettered += 1
        self.stats.reasons["connection_closed"] = self.stats.reasons.get("connection_closed", 0) + 1
        await self._rejects.refused(1, reason, self.stats.dead_lettered)
