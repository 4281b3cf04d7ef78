"""Local escalation: an alarm without a ``stored`` receipt in T seconds is raised on site.

When the uplink is down, the broker is up but the platform is not, or the platform
silently drops an alarm, the gateway itself texts the property office and care workers
through a serial 4G/LTE modem (drivers/serial/modem.py) and switches named outputs (a
siren's coil) through the allow-listed actuator interface (agent/actuator.py). The rules:

* once per alarm and channel (``sms:+86…`` per number, ``output:siren``), tracked in the
  outbox's database (buffer/receipts.py), so a restart never repeats an SMS;
* ``sending`` is committed before ``AT+CMGS`` and ``sent`` with its event after it, in
  one transaction; a row found ``sending`` after a restart is reported as sent but
  unconfirmed and not sent again (docs/escalation.md has the trade-off);
* failures are retried with growing, jittered delays; ``gateway.escalation.failed`` is
  emitted once per alarm and channel, ``gateway.escalation.sent`` when it finally works;
* a faulty channel (no modem, no SIM, no signal, ``ERROR``) is reported once per change
  as ``gateway.escalation.channel``, not per retry; other drivers never notice;
* a receipt stops what has not happened yet; nothing is escalated after ``stored``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal, Protocol

from agent.actuator import ActuatorError, Actuators
from agent.escalation_config import ALARM_LABELS, DEFAULT_TEMPLATES, EscalationConfig, SmsConfig
from agent.events import Event, EventData, Priority, Severity
from buffer import receipts as db
from buffer.outbox import Outbox

log = logging.getLogger(__name__)

_CST = timezone(timedelta(hours=8))  # texts give the local time of a Chinese community
PROBE_INTERVAL_S = 300.0
SENT = "gateway.escalation.sent"
FAILED = "gateway.escalation.failed"


class EscalationData(EventData):
    """``data`` of ``gateway.escalation.sent`` and ``gateway.escalation.failed``."""

    alarm_id: str
    alarm_type: str
    subject: str
    channel: str
    attempts: int
    reason: str | None = None
    confirmed: bool = True  # False: the agent restarted while the modem was sending


class ChannelStateData(EventData):
    """``data`` of ``gateway.escalation.channel``: a channel's state changed."""

    channel: str
    state: Literal["ok", "fault"]
    reason: str | None = None
    detail: str | None = None


class ChannelError(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


Commit = Callable[[], Awaitable[None]]


class Channel(Protocol):
    name: str  # once-per-alarm key: "sms:+8613…", "output:siren"
    group: str  # what a fault is reported against: "sms" (the modem), "output:siren"
    min_interval_s: float

    async def send(self, alarm: db.Awaiting, text: str, commit: Commit) -> None:
        """Deliver; await ``commit()`` (marks the row ``sending``) just before the point
        of no return, so a failure before it is a plain retry."""
        ...


@dataclass
class OutputChannel:
    name: str
    group: str
    output: str
    actuators: Actuators
    min_interval_s: float = 0.0

    async def send(self, alarm: db.Awaiting, text: str, commit: Commit) -> None:
        await commit()
        try:
            await self.actuators.activate(self.output)
        except ActuatorError as exc:
            raise ChannelError("output_failed", str(exc)) from None


class SmsChannel:
    """One number, sharing one modem (a lock: one AT conversation at a time)."""

    group = "sms"

    def __init__(self, config: SmsConfig, number: str, lock: asyncio.Lock) -> None:
        self.name = f"sms:{number}"
        self.number = number
        self.min_interval_s = config.per_number_interval_s
        self._config = config
        self._lock = lock

    async def probe(self) -> None:
        from drivers.serial.modem import AtModem, ModemError  # pyserial only when configured

        async with self._lock:
            try:
                async with AtModem(self._config.port, self._config.baudrate,
                                   self._config.timeout_s) as modem:  # fmt: skip
                    await modem.ready()
            except ModemError as exc:
                raise ChannelError(exc.reason, exc.detail) from None

    async def send(self, alarm: db.Awaiting, text: str, commit: Commit) -> None:
        from drivers.serial.modem import AtModem, ModemError

        async with self._lock:
            try:
                async with AtModem(self._config.port, self._config.baudrate,
                                   self._config.timeout_s) as modem:  # fmt: skip
                    await modem.ready()
                    # From here the modem may put the message on the air.
                    await commit()
                    await modem.send_sms(self.number, text, ref=int(alarm.event_id[-2:], 16))
            except ModemError as exc:
                raise ChannelError(exc.reason, exc.detail) from None


def render(config: EscalationConfig, alarm: db.Awaiting, site: str) -> str:
    """The alarm's text: kind, where and which device; never a name or a health value."""
    data: dict[str, Any] = json.loads(alarm.data)
    key = str(data.get("key", ""))
    templates = {**DEFAULT_TEMPLATES, **(config.sms.templates if config.sms else {})}
    template = (templates.get(f"{alarm.type}:{key}") or templates.get(alarm.type)
                or templates["*"])  # fmt: skip
    when = datetime.fromtimestamp(alarm.created, UTC).astimezone(_CST).strftime("%m-%d %H:%M")
    return template.format(
        community=config.community or site,
        location=config.locations.get(alarm.subject, ""),
        device=alarm.subject,
        alarm=ALARM_LABELS.get(key, key or alarm.type),
        time=when,
    )


def retry_delay(attempts: int, base: float, cap: float) -> float:
    """Doubling with jitter in [½, 1] of the step: retries spread, never immediate."""
    step = min(cap, base * 2.0 ** max(0, attempts - 1))
    jitter: float = random.uniform(0.5, 1.0)  # jitter, not cryptography
    return step * jitter


@dataclass(frozen=True)
class EscalationSettings:
    escalate_after_s: float
    config: EscalationConfig
    site: str
    source: str


class Escalator:
    """Opens escalations for overdue alarms and drives each channel's row to ``sent``."""

    def __init__(self, settings: EscalationSettings, outbox: Outbox,
                 channels: list[Channel]) -> None:  # fmt: skip
        self.settings = settings
        self.outbox = outbox
        self.channels = {c.name: c for c in channels}
        self.faults: dict[str, str | None] = {}  # channel group -> current fault reason
        self.sent = 0
        self.failed = 0
        self.wake = asyncio.Event()
        # One worker per channel group: a modem taking 60 s over an SMS never holds up
        # the siren, and one channel is never driven twice at once.
        self._busy: dict[str, asyncio.Task[None]] = {}

    async def run(self) -> None:
        await self._recover()
        await self._probe()
        last_probe = time.monotonic()
        try:
            while True:
                await self.tick()
                if time.monotonic() - last_probe > PROBE_INTERVAL_S:
                    await self._probe()
                    last_probe = time.monotonic()
                self.wake.clear()
                try:
                    async with asyncio.timeout(0.5):
                        await self.wake.wait()
                except TimeoutError:
                    pass
        finally:
            for task in self._busy.values():
                task.cancel()
            await asyncio.gather(*self._busy.values(), return_exceptions=True)

    async def tick(self, now: float | None = None) -> None:
        # A wall-clock step moves the stored deadlines first (buffer/wallclock.py).
        await self.outbox.call(lambda s: s.retention.follow_clock())
        now = time.time() if now is None else now
        names = list(self.channels)
        after = self.settings.escalate_after_s
        await self.outbox.call(lambda s: db.open_escalations(s.conn, names, now, after))
        rows = await self.outbox.call(
            lambda s: db.escalations(s.conn, states=("due", "failed"), due_by=now)
        )
        by_group: dict[str, list[db.Escalation]] = {}
        for row in rows:
            if row.channel in self.channels:
                by_group.setdefault(self.channels[row.channel].group, []).append(row)
        for group, items in by_group.items():
            busy = self._busy.get(group)
            if busy is None or busy.done():
                self._busy[group] = asyncio.create_task(self._work(items), name=f"esc-{group}")

    async def _work(self, rows: list[db.Escalation]) -> None:
        for row in rows:
            try:
                await self._attempt(row)
            except asyncio.CancelledError:
                raise
            except Exception:
                # A bug must not silence the other alarms; the row is retried next tick.
                log.exception("escalation of %s on %s failed unexpectedly",
                              row.event_id, row.channel)  # fmt: skip

    async def _recover(self) -> None:
        """Rows left ``sending`` by a crash: reported as sent, unconfirmed, never re-sent."""
        rows = await self.outbox.call(lambda s: db.escalations(s.conn, states=("sending",)))
        for row in rows:
            log.warning("escalation %s of %s was interrupted while sending; not repeated",
                        row.channel, row.event_id)  # fmt: skip
            await self._settle(row, "sent", reason="interrupted by a restart", confirmed=False)

    async def _probe(self) -> None:
        """Check the modem once (at start, then rarely): faults show before an alarm."""
        probed: set[str] = set()
        for channel in self.channels.values():
            probe = getattr(channel, "probe", None)
            if probe is None or channel.group in probed:
                continue
            probed.add(channel.group)
            try:
                await probe()
            except ChannelError as exc:
                await self._channel_state(channel.group, exc)
            else:
                await self._channel_state(channel.group, None)

    async def _attempt(self, row: db.Escalation) -> None:
        channel = self.channels[row.channel]
        now = time.time()
        if channel.min_interval_s:
            last = await self.outbox.call(lambda s: db.last_sent(s.conn, row.channel))
            if last is not None and now - last < channel.min_interval_s:
                later = last + channel.min_interval_s
                await self._set(row, row.state, next_try=later)
                return
        alarm = await self._alarm(row.event_id)
        if alarm is None:
            return  # receipted meanwhile
        text = render(self.settings.config, alarm, self.settings.site)

        async def commit() -> None:
            await self._set(row, "sending", next_try=now)  # durable before the modem is told

        try:
            await channel.send(alarm, text, commit)
        except ChannelError as exc:
            await self._failed(row, exc)
            return
        await self._channel_state(channel.group, None)
        await self._settle(row, "sent", alarm=alarm)
        log.info("escalated alarm %s on %s", row.event_id, row.channel)

    async def _failed(self, row: db.Escalation, exc: ChannelError) -> None:
        cfg = self.settings.config
        delay = retry_delay(row.attempts + 1, cfg.retry_base_s, cfg.retry_max_s)
        await self._channel_state(self.channels[row.channel].group, exc)
        if row.reported:
            await self._set(row, "failed", next_try=time.time() + delay, reason=exc.reason)
            return
        await self._settle(row, "failed", reason=exc.reason, next_try=time.time() + delay)

    async def _alarm(self, event_id: str) -> db.Awaiting | None:
        rows = await self.outbox.call(lambda s: db.awaiting(s.conn))
        return next((a for a in rows if a.event_id == event_id), None)

    async def _set(self, row: db.Escalation, state: str, **kw: Any) -> None:
        key = (row.event_id, row.channel)
        await self.outbox.call(
            lambda s: db.set_escalation(s.conn, key, state, now=time.time(), **kw)
        )

    async def _settle(self, row: db.Escalation, state: str, *, reason: str | None = None,
                      confirmed: bool = True, alarm: db.Awaiting | None = None,
                      next_try: float | None = None) -> None:  # fmt: skip
        """Move the row and store its event in one transaction."""
        alarm_type, subject = await self._alarm_identity(row.event_id, alarm)
        # ``attempts`` counts the one just made; a recovered row's was counted before.
        data = EscalationData(alarm_id=row.event_id, alarm_type=alarm_type, subject=subject,
                              channel=row.channel, attempts=row.attempts + int(confirmed),
                              reason=reason, confirmed=confirmed)  # fmt: skip
        event = Event(
            type=SENT if state == "sent" else FAILED,
            subject=subject,
            data=data.model_dump(mode="json"),
            priority=Priority.ALARM,
            severity=Severity.CRITICAL if state == "failed" else Severity.WARNING,
            source=self.settings.source,
        )
        key, now = (row.event_id, row.channel), time.time()

        def also(conn: sqlite3.Connection) -> None:
            db.set_escalation(conn, key, state, now=now, next_try=next_try, reason=reason,
                              reported=True)  # fmt: skip

        await self.outbox.append_with([event], also)
        if state == "sent":
            self.sent += 1
        else:
            self.failed += 1

    async def _alarm_identity(self, event_id: str, alarm: db.Awaiting | None) -> tuple[str, str]:
        if alarm is not None:
            return alarm.type, alarm.subject
        row = await self.outbox.call(
            lambda s: s.conn.execute(
                "SELECT type, subject FROM awaiting WHERE event_id=?", (event_id,)
            ).fetchone()
        )
        return (str(row[0]), str(row[1])) if row else ("unknown", "unknown")

    async def _channel_state(self, group: str, exc: ChannelError | None) -> None:
        """Report a channel's fault or recovery once per change (not per retry)."""
        reason = None if exc is None else exc.reason
        if group in self.faults and self.faults[group] == reason:
            return
        first = group not in self.faults
        self.faults[group] = reason
        if first and reason is None:
            log.info("escalation channel %s ready", group)
            return  # ready at start is not news for the platform
        if reason is None:
            log.warning("escalation channel %s recovered", group)
        else:
            log.error("escalation channel %s: %s", group, exc)
        data = ChannelStateData(
            channel=group,
            state="ok" if reason is None else "fault",
            reason=reason,
            detail=None if exc is None else exc.detail,
        )
        severity = Severity.WARNING if reason is None else Severity.CRITICAL
        event = Event(
            type="gateway.escalation.channel",
            subject=group,
            data=data.model_dump(mode="json"),
            priority=Priority.ALARM,
            severity=severity,
            source=self.settings.source,
        )
        await self.outbox.append([event])


def build_channels(config: EscalationConfig, actuators: Actuators) -> list[Channel]:
    channels: list[Channel] = []
    if config.sms is not None:
        lock = asyncio.Lock()
        channels += [SmsChannel(config.sms, n, lock) for n in config.sms.numbers]
    for name in config.outputs:
        channels.append(OutputChannel(f"output:{name}", f"output:{name}", name, actuators))
    return channels
