"""The ``serial`` driver: one port, one codec, its residents' devices and their rules.

No retry loop: an unplugged or busy port raises :class:`DriverError` and the supervisor
reopens it with backoff (agent/driver.py). The port's offline/online transition is
reported once each, not on every retry: the state is kept in a state file
(agent/state_file.py), so a restart of the agent does not repeat it either. Open
episodes are saved after their events are durable (agent/episodes.py), so a restart
neither raises one twice nor loses its clear.

Events: ``resident.alarm`` / ``resident.vital`` / ``resident.device`` /
``resident.inactivity`` episodes, ``resident.vitals`` telemetry, ``serial.port`` health
(docs/events.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from agent.driver import DriverContext, DriverError, EventSink
from agent.episodes import EpisodeStore
from agent.events import Event, Priority, Severity
from agent.state_file import read_json, write_json
from agent.status import device_board
from drivers.serial.codec import FrameCodec
from drivers.serial.codecs import make_codec
from drivers.serial.config import SerialConfig
from drivers.serial.errors import PortUnavailableError
from drivers.serial.events import SerialPortState
from drivers.serial.port import SerialPort
from drivers.serial.rules import ResidentRules

log = logging.getLogger(__name__)


class SerialDriver:
    def __init__(self, config: SerialConfig, context: DriverContext) -> None:
        self.name = config.name
        self._config = config
        self._episodes = EpisodeStore(context.state_dir, f"serial-{config.name}")
        self._port_state = Path(context.state_dir) / f"serial-{config.name}.port.json"
        self._saving = asyncio.Lock()
        self.codec: FrameCodec = make_codec(config.codec)
        self.rules: dict[str, ResidentRules] = {}
        self._by_frame_id: dict[str, ResidentRules] = {}
        self._default: ResidentRules | None = None
        self._sink: EventSink | None = None
        self._board = device_board(context.shared)  # the live status (agent/status.py)
        self._board.report(self.name, config.port, "unknown", reason="not opened yet")

    def _build_rules(self) -> None:
        saved = self._episodes.load()
        c = self._config
        for d in c.devices:
            r = ResidentRules(d.id, d.resident, d.thresholds, speed=c.time_speed,
                              wearable=c.codec == "bracelet")  # fmt: skip
            r.restore(saved.get(d.id, []))
            self.rules[d.id] = r
            self._by_frame_id[d.frame_id.lower()] = r
        self._default = self.rules[c.devices[0].id] if c.codec != "bracelet" else None

    def _was_offline(self) -> bool:
        try:
            doc = read_json(self._port_state)
        except ValueError:
            return False
        return isinstance(doc, dict) and doc.get("offline") is True

    async def _port_event(self, offline: bool, error: str = "") -> None:
        assert self._sink is not None
        port = SerialPortState(state="offline" if offline else "online", port=self._config.port,
                               codec=self._config.codec)  # fmt: skip
        if error:
            port.error = error
        data = port.to_data()
        sev = Severity.WARNING if offline else Severity.INFO
        await self._sink.emit(Event(type="serial.port", subject=f"port:{self.name}", data=data,
                                    priority=Priority.ALARM, severity=sev))  # fmt: skip
        await asyncio.to_thread(write_json, self._port_state, {"offline": offline})
        log.info("serial port %s %s", self._config.port, data["state"])

    async def _persist(self) -> None:
        async with self._saving:
            state = {d: r.open_episodes() for d, r in self.rules.items()}
            try:
                await asyncio.to_thread(self._episodes.save, state)
            except OSError as exc:
                log.error("could not save episodes to %s: %s", self._episodes.path, exc)

    async def _emit_all(self, events: list[Event]) -> None:
        assert self._sink is not None
        for ev in events:
            await self._sink.emit(ev)
        if any(ev.priority is not Priority.TELEMETRY for ev in events):
            await self._persist()

    async def run(self, sink: EventSink) -> None:
        self._sink = sink
        if not self.rules:
            self._build_rules()
        c = self._config
        port = SerialPort(c.port, c.baudrate or self.codec.baudrate)
        try:
            try:
                await asyncio.to_thread(port.open)
            except PortUnavailableError as exc:
                self._board.report(self.name, c.port, "offline", reason=str(exc))
                if not self._was_offline():
                    await self._port_event(True, str(exc))
                raise DriverError(str(exc)) from None
            self._board.report(self.name, c.port, "online")
            if self._was_offline():
                await self._port_event(False)
            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(self._clock())
                    await self._read_loop(port)
            except* PortUnavailableError as group:
                msg = str(group.exceptions[0])
                self._board.report(self.name, c.port, "offline", reason=msg)
                await self._port_event(True, msg)
                raise DriverError(msg) from None
        finally:
            port.close()

    async def _read_loop(self, port: SerialPort) -> None:
        codec = self.codec
        while True:
            data = await port.read()
            ok_before = codec.stats.frames_ok
            for frame in codec.feed(data):
                ack = codec.reply(frame)
                if ack is not None:
                    port.write(ack)
                await self._handle(frame, time.monotonic())
            # The live status: "yields valid frames" is a new frames_ok; the rest counts.
            if codec.stats.frames_ok != ok_before:
                self._board.seen(self.name, port.url, **codec.stats.as_dict())
            else:
                self._board.detail(self.name, port.url, **codec.stats.as_dict())

    async def _handle(self, frame: bytes, now: float) -> None:
        events: list[Event] = []
        for obs in self.codec.decode(frame):
            rules = self._by_frame_id.get(obs.device_id) if obs.device_id else self._default
            if rules is None:
                self.codec.stats.unknown += 1
                continue
            events += rules.observe(obs, now)
        if events:
            await self._emit_all(events)

    async def _clock(self) -> None:
        c = self._config
        shortest = min(min(d.thresholds.silence_s, 60.0) for d in c.devices)
        step = max(0.005, min(1.0, shortest / c.time_speed / 20))
        period = c.telemetry_period_s / c.time_speed
        next_telemetry = time.monotonic() + period
        while True:
            await asyncio.sleep(step)
            now = time.monotonic()
            events: list[Event] = []
            for r in self.rules.values():
                events += r.tick(now)
            if now >= next_telemetry:
                next_telemetry = now + period
                events += [t for r in self.rules.values() if (t := r.telemetry()) is not None]
            if events:
                await self._emit_all(events)
