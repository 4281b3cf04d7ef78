"""Run every driver in its own task and restart it with jittered backoff when it fails.

A failing driver never stops the others: each driver's task catches its failures, and
only a bug in the supervisor itself reaches the TaskGroup. Health is published as
``gateway.health`` events on transitions (failing, recovered), not on every failure, and
logged the same way.

While running, :meth:`Supervisor.reconfigure` swaps in a new driver list (only the
drivers whose config changed are stopped and started again; the others keep running) and
:meth:`Supervisor.restart` restarts one driver in place. Both are used by the staged apply
(agent/staged_apply.py) and by remote ``driver.restart``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from agent.backoff import full_jitter
from agent.config import HealthConfig
from agent.driver import Driver, DriverConfigBase, DriverError, EventSink
from agent.events import Event, Priority, Severity
from agent.gateway_events import ForwardStalled, GatewayHealth

log = logging.getLogger(__name__)

MakeDriver = Callable[[DriverConfigBase], Driver]  # one configured driver, ready to run


@dataclass
class DriverHealth:
    name: str
    state: str = "starting"  # starting | running | failing
    restarts: int = 0
    last_error: str | None = None
    kind: str = ""
    last_seen: float | None = None  # wall clock of its last event (the live status)


@dataclass(frozen=True)
class Reconfigured:
    """What :meth:`Supervisor.reconfigure` did, by driver name."""

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = field(default=(), compare=False)

    @property
    def started(self) -> tuple[str, ...]:
        """The drivers that run a new config now: the ones to health-check."""
        return tuple(sorted((*self.added, *self.changed)))


def _fresh_health(cfg: DriverConfigBase, previous: DriverHealth | None) -> DriverHealth:
    """A (re)started driver's record: state from scratch, the restart count carried on."""
    return DriverHealth(
        cfg.name, restarts=previous.restarts if previous else 0, kind=str(getattr(cfg, "kind", ""))
    )


class _DriverSink:
    """Stamps the driver's source on its events and notices that it works again."""

    def __init__(self, sink: EventSink, source: str, on_emit: Callable[[], None]) -> None:
        self._sink = sink
        self._source = source
        self._on_emit = on_emit

    async def emit(self, event: Event) -> None:
        await self._sink.emit(event.with_source(self._source))
        self._on_emit()


class Supervisor:
    def __init__(
        self,
        configs: Sequence[DriverConfigBase],
        factory: MakeDriver,
        sink: EventSink,
        *,
        gateway_id: str,
        health: HealthConfig,
    ) -> None:
        self._configs = [c for c in configs if c.enabled]
        self._factory = factory
        self._sink = sink
        self._gw = gateway_id
        self._health_cfg = health
        self.health: dict[str, DriverHealth] = {
            c.name: DriverHealth(c.name, kind=str(getattr(c, "kind", ""))) for c in self._configs
        }
        self._tg: asyncio.TaskGroup | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # The running driver objects, for in-process readers (the console's camera view).
        self.drivers: dict[str, Driver] = {}

    async def run(self) -> None:
        """Supervise all drivers until cancelled."""
        async with asyncio.TaskGroup() as tg:
            self._tg = tg
            for cfg in self._configs:
                self._start(cfg)
            try:
                # Run until cancelled, even with no drivers configured (forward-only gateway).
                await asyncio.Event().wait()
            finally:
                self._tg = None

    @property
    def configs(self) -> tuple[DriverConfigBase, ...]:
        """The enabled driver configs being supervised now."""
        return tuple(self._configs)

    def _start(self, cfg: DriverConfigBase) -> None:
        if self._tg is None:
            raise RuntimeError("the supervisor is not running")
        self._tasks[cfg.name] = self._tg.create_task(
            self._supervise(cfg), name=f"driver[{cfg.name}]"
        )

    async def _stop(self, name: str, timeout: float = 5.0) -> None:
        """Cancel one driver's task and wait (bounded) for its cleanup to finish."""
        task = self._tasks.pop(name, None)
        self.drivers.pop(name, None)
        if task is None:
            return
        task.cancel()
        # asyncio.wait, not await: our own cancellation must not be swallowed here.
        await asyncio.wait({task}, timeout=timeout)
        if not task.done():
            log.warning("driver %s did not stop within %.0f s", name, timeout)

    async def reconfigure(self, configs: Sequence[DriverConfigBase]) -> Reconfigured:
        """Run ``configs`` from now on: restart changed drivers, start new, stop removed."""
        new = {c.name: c for c in configs if c.enabled}
        old = {c.name: c for c in self._configs}
        removed = sorted(set(old) - set(new))
        added = sorted(set(new) - set(old))
        changed = sorted(n for n in set(old) & set(new) if old[n] != new[n])
        for name in (*removed, *changed):
            await self._stop(name)
        for name in removed:
            self.health.pop(name, None)
        self._configs = list(new.values())
        for name in (*added, *changed):
            self.health[name] = _fresh_health(new[name], self.health.get(name))
            self._start(new[name])
        unchanged = sorted(set(new) - set(added) - set(changed))
        if added or changed or removed:
            log.info("drivers reconfigured: added %s, changed %s, removed %s",
                     added, changed, removed)  # fmt: skip
        return Reconfigured(tuple(added), tuple(changed), tuple(removed), tuple(unchanged))

    async def restart(self, name: str) -> None:
        """Stop driver ``name`` and start it again with its config (KeyError if unknown)."""
        cfg = next((c for c in self._configs if c.name == name), None)
        if cfg is None:
            raise KeyError(name)
        log.info("driver %s restarting on request", name)
        await self._stop(name)
        self.health[name] = _fresh_health(cfg, self.health.get(name))
        self._start(cfg)

    def _source(self, name: str) -> str:
        return f"/edge/{self._gw}/drivers/{name}"

    async def _publish_health(self, h: DriverHealth, severity: Severity) -> None:
        event = Event(
            type="gateway.health",
            subject=f"driver:{h.name}",
            data=GatewayHealth(
                driver=h.name, state=h.state, restarts=h.restarts, error=h.last_error
            ).to_data(),
            priority=Priority.EVENT,
            severity=severity,
            source=f"/edge/{self._gw}/supervisor",
        )
        try:
            await self._sink.emit(event)
        except Exception as exc:
            log.error("could not record health of driver %s: %s", h.name, exc)

    async def _supervise(self, cfg: DriverConfigBase) -> None:
        h = self.health[cfg.name]  # this run's record (reconfigure/restart replace it)
        attempt = 0
        recovered = asyncio.Event()

        def mark_working() -> None:
            h.last_seen = time.time()
            if h.state != "running":
                recovered.set()

        while True:
            started = time.monotonic()
            recovered.clear()
            watcher = asyncio.create_task(self._watch_recovery(h, recovered))
            try:
                driver = self._factory(cfg)
                self.drivers[cfg.name] = driver
                self._log_start(cfg, h)
                await driver.run(_DriverSink(self._sink, self._source(cfg.name), mark_working))
                error = "run() returned"
            except asyncio.CancelledError:
                raise
            except DriverError as exc:
                error = str(exc)
            except Exception as exc:
                log.exception("driver %s crashed", cfg.name)
                error = f"{type(exc).__name__}: {exc}"
            finally:
                watcher.cancel()
            ran = time.monotonic() - started
            if ran >= self._health_cfg.healthy_after_s:
                attempt = 0
            h.restarts += 1
            h.last_error = error
            if h.state != "failing":
                log.warning("driver %s failing: %s (restarting with backoff)", cfg.name, error)
                h.state = "failing"
                await self._publish_health(h, Severity.WARNING)
            else:
                log.debug("driver %s failed again: %s", cfg.name, error)
            delay = full_jitter(
                attempt, base=self._health_cfg.restart_base_s, cap=self._health_cfg.restart_max_s
            )
            attempt += 1
            await asyncio.sleep(delay)

    @staticmethod
    def _log_start(cfg: DriverConfigBase, h: DriverHealth) -> None:
        kind = getattr(cfg, "kind", "?")
        if h.last_error is None:
            log.info("driver %s (%s) starting", cfg.name, kind)
        else:  # the reason again, so the restart line alone says why (issue 14 item 7)
            log.info(
                "driver %s (%s) restarting (restart %d) after: %s",
                cfg.name, kind, h.restarts, h.last_error,
            )  # fmt: skip

    async def _watch_recovery(self, h: DriverHealth, recovered: asyncio.Event) -> None:
        """A driver counts as running once it emits an event or survives a while."""
        try:
            async with asyncio.timeout(min(self._health_cfg.healthy_after_s, 10.0)):
                await recovered.wait()
        except TimeoutError:
            pass
        if h.state == "running":
            return
        previous, h.state = h.state, "running"
        h.last_error = None  # a recovered driver's health no longer carries the old error
        if previous == "failing":
            log.info("driver %s recovered after %d restarts", h.name, h.restarts)
            await self._publish_health(h, Severity.INFO)


class Watchdog:
    """systemd's WATCHDOG=1, sent only while the parts that must make progress do.

    The event loop turning is not enough: a stuck outbox writer thread stalls every
    producer while the loop runs on. So each ping first runs a no-op on the writer
    thread; when that does not return within the interval, no ping is sent and systemd
    restarts the agent (WatchdogSec). A forwarder that has rows to send and delivers
    nothing for ``stall_s`` (a broker outage, or a connected uplink that does not move)
    is reported once per stall as a ``gateway.forward.stalled`` alarm instead, and the
    pings go on: a restart would not help, and an outage must never become a restart
    loop.
    """

    def __init__(
        self,
        *,
        probe_writer: Callable[[], Awaitable[object]],
        backlog: Callable[[], Awaitable[int]],
        forwarding: Callable[[], tuple[int, bool]],
        sink: EventSink,
        notify: Callable[[str], object],
        source: str,
        stall_s: float = 300.0,
    ) -> None:
        self._probe_writer = probe_writer
        self._backlog = backlog
        self._forwarding = forwarding  # (rows delivered so far, uplink connected)
        self._sink = sink
        self._notify = notify
        self._source = source
        self._stall_s = stall_s
        self.writer_stuck = False
        self.stalled = False
        self._progress = (forwarding()[0], time.monotonic())

    async def run(self, interval: float) -> None:
        while True:
            await self.beat(interval)
            await asyncio.sleep(interval)

    async def beat(self, interval: float) -> None:
        """One round: probe, ping if healthy, check forward progress."""
        try:
            async with asyncio.timeout(interval):
                await self._probe_writer()
        except TimeoutError:
            if not self.writer_stuck:
                log.error("buffer writer thread stuck for %.0f s; withholding WATCHDOG=1", interval)
            self.writer_stuck = True
            return
        if self.writer_stuck:
            log.info("buffer writer thread responds again")
        self.writer_stuck = False
        self._notify("WATCHDOG=1")
        await self._check_forwarding()

    async def _check_forwarding(self) -> None:
        now, (delivered, connected) = time.monotonic(), self._forwarding()
        if delivered != self._progress[0]:
            self._progress = (delivered, now)
            self.stalled = False
            return
        if self.stalled or now - self._progress[1] < self._stall_s:
            return
        backlog = await self._backlog()
        if not backlog:
            self._progress = (delivered, now)
            return
        self.stalled = True
        log.error(
            "forwarder delivered nothing for %.0f s (uplink %s)",
            now - self._progress[1],
            "up" if connected else "down",
        )
        event = Event(
            type="gateway.forward.stalled",
            subject="forwarder",
            data=ForwardStalled(
                pending=backlog, stalled_s=round(now - self._progress[1]), connected=connected
            ).to_data(),
            priority=Priority.ALARM,
            severity=Severity.CRITICAL,
            source=self._source,
        )
        try:
            await self._sink.emit(event)
        except Exception as exc:
            log.error("could not record the forwarding stall: %s", exc)
