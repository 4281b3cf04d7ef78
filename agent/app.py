"""Composition root: open the outbox, start the forwarder and the supervised drivers.

Shutdown runs in dependency order with every step bounded: drivers stop first, the
outbox commits what they handed it, the forwarder publishes ``offline`` and disconnects,
then the outbox closes. SIGTERM/SIGINT only set an event (the handlers do no work).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent import __version__, systemd
from agent.clock import clock_is_synchronised
from agent.config import LoadedConfig
from agent.config_checks import startup_problems
from agent.driver import Driver, DriverConfigBase, DriverContext, EventSink
from agent.escalation_config import ReceiptsConfig
from agent.forwarder import Forwarder
from agent.gateway_events import config_fingerprint
from agent.inbound import Inbound
from agent.kinds import KINDS, Kind
from agent.looplag import LoopLag
from buffer.outbox import Outbox, OutboxSink

if TYPE_CHECKING:  # imported by _assemble, once the uplink has had its head start
    from agent.app_alarms import AlarmLoop
    from agent.config_model import AgentConfig
    from agent.gateway_health import HealthSource
    from agent.remote.logtail import LogRing
    from agent.staged_apply import StagedApply
    from agent.status import StatusWriter
    from agent.status_collect import StatusCollector
    from agent.supervisor import Supervisor, Watchdog
    from buffer.receipts import ReceiptPolicy

log = logging.getLogger(__name__)

STOP_BUDGET_S = 8.0  # under systemd's TimeoutStopSec and the 10 s promised to operators
# Drivers start once the uplink is up or after this long, whichever is first: importing a
# kind's library (pymodbus ~45 ms) blocks the loop, and while it did the broker's CONNACK
# waited, delaying the birth message and everything queued (issue 19 item 2). Bounded so
# that a broker that is down delays the first poll by no more than this. ``edge-agent
# run`` also imports and builds everything but the outbox and the forwarder only then
# (``uplink_first``): those modules (alarms, status, remote commands, staged apply, the
# supervisor) cost more than a whole bare paho publisher's start-up.
UPLINK_HEAD_START_S = 0.25


class Agent:
    """One running agent. ``run`` returns when ``stop`` is set and shutdown finished.

    With ``uplink_first`` the parts beyond the outbox and the forwarder are built by
    ``run`` once the uplink is up (or its head start is over); until then the forwarder
    holds back from subscribing, so no inbound route is missed.
    """

    def __init__(
        self,
        loaded: LoadedConfig,
        kinds: tuple[Kind, ...] = KINDS,
        stop: asyncio.Event | None = None,
        *,
        uplink_first: bool = False,
    ) -> None:
        self.loaded = loaded
        self.kinds = kinds
        cfg = loaded.config
        self.gateway_id = cfg.gateway.id
        self.state_dir = Path(cfg.resolved_state_dir)
        self.outbox = Outbox(
            cfg.buffer,
            source=f"/edge/{self.gateway_id}/buffer",
            clock_synced=clock_is_synchronised,
            receipt_policy=_receipt_policy(cfg.receipts),
        )
        self.sink: EventSink = OutboxSink(self.outbox)
        self.tap: Any = None  # the console's event tap (agent/console/tap.py), if configured
        if cfg.console is not None:
            self.tap = importlib.import_module("agent.console.tap").EventTap(self.sink)
            self.sink = self.tap
        self.console: Any = None
        self.context = DriverContext(gateway_id=self.gateway_id, state_dir=self.state_dir)
        # What the platform sends us (receipts, commands) is routed here; the
        # components that handle it register their routes before the forwarder subscribes.
        self.inbound = Inbound(self.gateway_id)
        self.loop_lag = LoopLag()
        self.forwarder = self._make_forwarder()
        self.stop = stop if stop is not None else asyncio.Event()
        self.log_ring: LogRing | None = None
        self._assembled = False
        if uplink_first:
            self.forwarder.routes_ready.clear()
        else:
            self._assemble()

    def _assemble(self) -> None:
        """Everything beyond the uplink: alarms, supervisor, staged apply, status,
        remote commands, health; their routes are on ``inbound`` when this returns."""
        from agent.app_alarms import AlarmLoop
        from agent.staged_apply import StagedApply
        from agent.status import StatusWriter, device_board, status_path
        from agent.status_collect import StatusCollector
        from agent.supervisor import Supervisor

        cfg = self.loaded.config
        # Receipts, re-announcement and local escalation, when configured.
        self.alarms: AlarmLoop = AlarmLoop(cfg, self.outbox, self.inbound)
        self.supervisor: Supervisor = Supervisor(
            cfg.drivers,
            self._make_driver,
            self.sink,
            gateway_id=self.gateway_id,
            health=cfg.supervisor,
        )
        # Live config changes (console zone editor, remote config.apply) go through this.
        self.staged: StagedApply = StagedApply(
            self.loaded, self.supervisor, kinds=self.kinds, on_applied=self._rebirth
        )
        self.status: StatusCollector = StatusCollector(
            gateway_id=self.gateway_id,
            forwarder=self.forwarder,
            outbox=self.outbox,
            supervisor=self.supervisor,
            board=device_board(self.context.shared),
            broker=f"{cfg.mqtt.host}:{cfg.mqtt.effective_port}",
        )
        self.status_writer: StatusWriter = StatusWriter(status_path(self.state_dir))
        self.log_ring = self._enable_remote() if cfg.remote.enabled else None
        self.health_source: HealthSource = self._health_source()
        self._assembled = True
        self.forwarder.routes_ready.set()

    def _rebirth(self, cfg: AgentConfig) -> None:
        """The birth's config hash follows a live apply (agent/staged_apply.py)."""
        self.forwarder.rebirth(config_sha256=config_fingerprint(cfg))

    def _make_forwarder(self) -> Forwarder:
        cfg = self.loaded.config
        return Forwarder(
            cfg.mqtt,
            gateway_id=self.gateway_id,
            outbox=self.outbox,
            birth={
                "version": __version__,
                "config_sha256": config_fingerprint(cfg),
                "site": cfg.gateway.site,
            },
            report=self.sink.emit,
            shrink_image=_shrink_image,
            inbound=self.inbound,
        )

    def _enable_remote(self) -> LogRing:
        """The platform's commands on edge/{id}/cmd/+ (agent/remote/, docs/remote.md); the
        redacted log ring behind logs.tail, attached to the root logger while running."""
        from agent.remote.handlers import RemoteContext
        from agent.remote.logtail import LogRing, Redactor, config_secrets
        from agent.remote.service import RemoteCommands

        cfg = self.loaded.config
        redact = Redactor(config_secrets(cfg))
        ring = LogRing(cfg.remote.log_lines, redact)
        ctx = RemoteContext(
            gateway_id=self.gateway_id,
            config=cfg.remote,
            staged=self.staged,
            supervisor=self.supervisor,
            outbox=self.outbox,
            logs=ring,
            redact=redact,
            status=self.status.collect,
            started=time.monotonic(),
            kinds=self.kinds,
        )
        RemoteCommands(ctx, self.sink).register(self.inbound)
        return ring

    def _health_source(self) -> HealthSource:
        from agent.gateway_health import GatewayHealthConfig, HealthSource, Probes

        cfg = self.loaded.config
        # Without a ``health:`` section the readings still feed the live status, quietly.
        settings = cfg.health or GatewayHealthConfig()
        source = HealthSource(
            settings,
            Probes(
                root=settings.sysfs_root,
                disk_path=cfg.buffer.path.parent,
                cert_path=cfg.mqtt.tls.cert if cfg.mqtt.tls else None,
                clock_synced=clock_is_synchronised,
            ),
            emit=self.sink.emit,
            source=f"/edge/{self.gateway_id}/health",
            quiet=cfg.health is None,
        )
        self.status.health = lambda: source.latest
        return source

    def _make_driver(self, config: DriverConfigBase) -> Driver:
        from agent.registry import create_driver

        return self.alarms.offer(create_driver(config, self.context, self.kinds))

    async def run(self) -> int:
        if self.log_ring is not None:
            self.log_ring.attach()
        try:
            return await self._run()
        finally:
            if self.log_ring is not None:
                self.log_ring.detach()

    async def _run(self) -> int:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        await self.outbox.open()
        if self.outbox.quarantined:
            log.error("outbox was corrupt; moved aside to %s", self.outbox.quarantined)
        forwarder_stop = asyncio.Event()
        forwarder = await self._start_uplink(forwarder_stop)
        from agent.status import publish_status

        drivers = asyncio.create_task(self.supervisor.run(), name="supervisor")
        watchdog = asyncio.create_task(self._background(), name="watchdog")
        await self._start_console()
        status = asyncio.create_task(
            publish_status(self.status.collect, self.status_writer), name="status"
        )
        health = asyncio.create_task(self.health_source.run(), name="gateway-health")
        alarm_jobs = self.alarms.start()
        systemd.notify(f"READY=1\nSTATUS=running {len(self.supervisor.health)} drivers")
        log.info(
            "edge-agent %s running as %s with %d drivers",
            __version__,
            self.gateway_id,
            len(self.supervisor.health),
        )
        stopper = asyncio.create_task(self.stop.wait())
        done, _ = await asyncio.wait(
            {forwarder, drivers, stopper}, return_when=asyncio.FIRST_COMPLETED
        )
        code = 0
        for task in done:
            if task is not stopper and task.exception() is not None:
                log.error("agent core task %s failed", task.get_name(), exc_info=task.exception())
                code = 1
        systemd.notify("STOPPING=1")
        log.info("stopping")
        # First: the status's last word (running: false) needs the outbox still open.
        for side in (status, health, *alarm_jobs):
            if side is not None:
                side.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await side
        if self.console is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await self.console.stop()
        await self._shutdown(drivers, forwarder, forwarder_stop, watchdog, stopper)
        return code

    async def _start_uplink(self, forwarder_stop: asyncio.Event) -> asyncio.Task[None]:
        """The forwarder's task, after its head start; then the rest, if not yet built."""
        forwarder = asyncio.create_task(self.forwarder.run(forwarder_stop), name="forwarder")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(UPLINK_HEAD_START_S):
                await self.forwarder.connected.wait()
        if self._assembled:
            return forwarder
        try:
            self._assemble()
        except BaseException:
            forwarder_stop.set()
            forwarder.cancel()
            with contextlib.suppress(BaseException):
                await forwarder
            await self.outbox.close(timeout=STOP_BUDGET_S / 2)
            raise
        if self.log_ring is not None:
            self.log_ring.attach()
        return forwarder

    async def _start_console(self) -> None:
        """Serve the console when configured; a console that cannot start never stops the agent."""
        cfg = self.loaded.config
        if cfg.console is None:
            return
        tls = None
        if cfg.console.tls:
            mqtt_tls = cfg.mqtt.tls
            cert = cfg.console.cert or (mqtt_tls.cert if mqtt_tls else None)
            key = cfg.console.key or (mqtt_tls.key if mqtt_tls else None)
            if cert is None or key is None:  # config check refuses this; belt and braces
                log.error("console: tls: true without a certificate; console not started")
                return
            tls = (cert, key)
        try:
            server = importlib.import_module("agent.console.server")
            self.console = server.Console(self, self.tap, cfg.console, tls)
            await self.console.start()
        except ImportError as exc:
            log.error("console: %s; install edge-agent[console]", exc)
            self.console = None
        except OSError as exc:
            log.error("console could not listen on %s: %s", cfg.console.listen, exc)
            self.console = None

    async def _shutdown(
        self,
        drivers: asyncio.Task[None],
        forwarder: asyncio.Task[None],
        forwarder_stop: asyncio.Event,
        watchdog: asyncio.Task[None],
        stopper: asyncio.Task[bool],
    ) -> None:
        # Commands still running (a config.apply waiting on its health window) end first:
        # they act on the drivers and the outbox that stop next.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2.0):
                await self.inbound.close()
        for task in (drivers, watchdog, stopper):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            async with asyncio.timeout(3.0):
                await drivers
        # Everything the drivers handed over is committed before the queue is closed.
        forwarder_stop.set()
        try:
            async with asyncio.timeout(STOP_BUDGET_S - 3.0):
                await forwarder
        except (TimeoutError, asyncio.CancelledError):
            log.warning("forwarder did not stop in time")
            forwarder.cancel()
        except Exception:
            log.exception("forwarder failed during shutdown")
        # Bounded: a writer stuck on a dead disk must not hold shutdown past systemd's
        # TimeoutStopSec (what it had not committed was never acknowledged to anyone).
        if not await self.outbox.close(timeout=STOP_BUDGET_S / 2):
            log.error("outbox did not close in time; exiting without its final checkpoint")
        self.context.shared.close_all()
        log.info("%s", self.loop_lag.summary())
        log.info("%s", self.forwarder.attempts.summary())

    async def _background(self) -> None:
        """The systemd watchdog and the loop-lag monitor (agent/looplag.py)."""
        await asyncio.gather(self._watchdog(), self.loop_lag.run())

    async def _watchdog(self) -> None:
        interval = systemd.watchdog_interval_s()
        if interval is None:
            return
        await self._make_watchdog().run(interval)

    def _make_watchdog(self) -> Watchdog:
        from agent.supervisor import Watchdog

        async def backlog() -> int:
            return (await self.outbox.stats()).pending

        return Watchdog(
            probe_writer=lambda: self.outbox.call(lambda _store: None),
            backlog=backlog,
            forwarding=lambda: (
                self.forwarder.stats.delivered,
                self.forwarder.connected.is_set(),
            ),
            sink=self.sink,
            notify=systemd.notify,
            source=f"/edge/{self.gateway_id}/watchdog",
        )


def _receipt_policy(receipts: ReceiptsConfig | None) -> ReceiptPolicy | None:
    """The outbox's receipt policy when ``receipts:`` is configured (agent/receipts.py
    is imported only then)."""
    if not receipts:
        return None
    from agent.receipts import receipt_policy

    return receipt_policy(receipts)


def _shrink_image(data: bytes, max_bytes: int) -> bytes | None:
    """Forwarder hook: re-encode an evidence JPEG to fit the broker (only vision/ may
    use OpenCV; imported late, so a gateway without the vision extra still starts)."""
    try:
        from vision.evidence import shrink_jpeg
    except ImportError:
        return None
    return shrink_jpeg(data, max_bytes)


EXIT_CONFIG = 2  # the same code ``edge-agent config check`` gives for the same problems


async def run_agent(loaded: LoadedConfig, kinds: tuple[Kind, ...] = KINDS) -> int:
    # Handlers first: a SIGTERM during the checks or the set-up is a clean stop, not a kill.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        # The checks ``config check`` runs, so the two cannot drift (agent/config_checks.py).
        issues = loaded.issues(startup_problems(loaded.config, kinds=kinds))
        if issues:
            for issue in issues:
                log.error("%s", issue)
            return EXIT_CONFIG
        return await Agent(loaded, kinds, stop, uplink_first=True).run()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
