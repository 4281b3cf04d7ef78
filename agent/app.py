"""Composition root: open the outbox, start the forwarder and the supervised drivers.

Shutdown runs in dependency order with every step bounded: drivers stop first, the
outbox commits what they handed it, the forwarder publishes ``offline`` and disconnects,
then the outbox closes. SIGTERM/SIGINT only set an event (the handlers do no work).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

from agent import __version__, systemd
from agent.actuator import Actuator, Actuators
from agent.clock import clock_is_synchronised
from agent.config import LoadedConfig
from agent.config_checks import startup_problems
from agent.driver import Driver, DriverConfigBase, DriverContext
from agent.escalation import EscalationSettings, Escalator, build_channels
from agent.forwarder import Forwarder, config_fingerprint
from agent.inbound import Inbound
from agent.kinds import KINDS, Kind
from agent.receipts import TOPIC_SUFFIX, Receipts, receipt_policy
from agent.registry import create_driver
from agent.supervisor import Supervisor, Watchdog
from buffer.outbox import Outbox, OutboxSink

log = logging.getLogger(__name__)

STOP_BUDGET_S = 8.0  # under systemd's TimeoutStopSec and the 10 s promised to operators


class Agent:
    """One running agent. ``run`` returns when ``stop`` is set and shutdown finished."""

    def __init__(
        self,
        loaded: LoadedConfig,
        kinds: tuple[Kind, ...] = KINDS,
        stop: asyncio.Event | None = None,
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
            receipt_policy=receipt_policy(cfg.receipts) if cfg.receipts else None,
        )
        self.sink = OutboxSink(self.outbox)
        self.context = DriverContext(gateway_id=self.gateway_id, state_dir=self.state_dir)
        # What the platform sends us (receipts, commands) is routed here; the
        # components that handle it register their routes before run().
        self.inbound = Inbound(self.gateway_id)
        # Named outputs drivers offer (agent/actuator.py), for escalation and later actions.
        self.actuators = Actuators()
        self.receipts: Receipts | None = None
        self.escalator: Escalator | None = None
        self._setup_receipts()
        self.forwarder = Forwarder(
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
        self.supervisor = Supervisor(
            cfg.drivers,
            self._make_driver,
            self.sink,
            gateway_id=self.gateway_id,
            health=cfg.supervisor,
        )
        self.stop = stop if stop is not None else asyncio.Event()

    def _setup_receipts(self) -> None:
        cfg = self.loaded.config
        if cfg.receipts is None:
            return
        self.receipts = Receipts(cfg.receipts, self.outbox)
        self.inbound.route(TOPIC_SUFFIX, self.receipts.handle)
        channels = build_channels(cfg.receipts.escalation, self.actuators)
        if channels:
            settings = EscalationSettings(
                escalate_after_s=cfg.receipts.escalate_after_s,
                config=cfg.receipts.escalation,
                site=cfg.gateway.site,
                source=f"/edge/{self.gateway_id}/escalation",
            )
            self.escalator = Escalator(settings, self.outbox, channels)

    def _make_driver(self, config: DriverConfigBase) -> Driver:
        driver = create_driver(config, self.context, self.kinds)
        if isinstance(driver, Actuator) and driver.output_names():
            self.actuators.offer(driver)  # only the outputs its config declares
        return driver

    def _background(self) -> list[asyncio.Task[None]]:
        """Receipts' re-announcement and the escalator, each restarted if it fails."""
        jobs = [(n, j) for n, j in (("receipts", self.receipts), ("escalation", self.escalator))
                if j is not None]  # fmt: skip
        return [asyncio.create_task(_keep_running(n, j.run), name=n) for n, j in jobs]

    async def run(self) -> int:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        await self.outbox.open()
        if self.outbox.quarantined:
            log.error("outbox was corrupt; moved aside to %s", self.outbox.quarantined)
        forwarder_stop = asyncio.Event()
        forwarder = asyncio.create_task(self.forwarder.run(forwarder_stop), name="forwarder")
        drivers = asyncio.create_task(self.supervisor.run(), name="supervisor")
        watchdog = asyncio.create_task(self._watchdog(), name="watchdog")
        background = self._background()
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
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await self._shutdown(drivers, forwarder, forwarder_stop, watchdog, stopper)
        return code

    async def _shutdown(
        self,
        drivers: asyncio.Task[None],
        forwarder: asyncio.Task[None],
        forwarder_stop: asyncio.Event,
        watchdog: asyncio.Task[None],
        stopper: asyncio.Task[bool],
    ) -> None:
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

    async def _watchdog(self) -> None:
        interval = systemd.watchdog_interval_s()
        if interval is None:
            return
        await self._make_watchdog().run(interval)

    def _make_watchdog(self) -> Watchdog:
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


async def _keep_running(name: str, run: Callable[[], Awaitable[None]]) -> None:
    """A core loop that must not die with a bug: logged, restarted after a pause."""
    while True:
        try:
            await run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed; restarting it in 5 s", name)
            await asyncio.sleep(5.0)


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
        return await Agent(loaded, kinds, stop).run()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
