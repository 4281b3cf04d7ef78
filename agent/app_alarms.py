"""The wiring of alarm receipts and local escalation (issue 13, docs/escalation.md).

Split from agent/app.py, which composes the agent: this module owns the pieces that exist
only with a ``receipts:`` section. The platform's receipts arrive on the gateway's own
``edge/{id}/receipts`` route (agent/inbound.py); the escalator texts through the modem
and writes named outputs that drivers offer (agent/actuator.py), never through one driver
importing another.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from agent.actuator import Actuator, Actuators
from agent.config_model import AgentConfig
from agent.driver import Driver
from agent.escalation import EscalationSettings, Escalator, build_channels
from agent.inbound import Inbound
from agent.receipts import TOPIC_SUFFIX, Receipts
from buffer.outbox import Outbox

log = logging.getLogger("agent.app")


class AlarmLoop:
    """Receipts, re-announcement and escalation: absent unless configured."""

    def __init__(self, cfg: AgentConfig, outbox: Outbox, inbound: Inbound) -> None:
        # Named outputs drivers offer, for escalation and later actions.
        self.actuators = Actuators()
        self.receipts: Receipts | None = None
        self.escalator: Escalator | None = None
        if cfg.receipts is None:
            return
        self.receipts = Receipts(cfg.receipts, outbox)
        inbound.route(TOPIC_SUFFIX, self.receipts.handle)
        channels = build_channels(cfg.receipts.escalation, self.actuators)
        if channels:
            settings = EscalationSettings(
                escalate_after_s=cfg.receipts.escalate_after_s,
                config=cfg.receipts.escalation,
                site=cfg.gateway.site,
                source=f"/edge/{cfg.gateway.id}/escalation",
            )
            self.escalator = Escalator(settings, outbox, channels)

    def offer(self, driver: Driver) -> Driver:
        """Take the outputs a new driver declares (only those its config names)."""
        if isinstance(driver, Actuator) and driver.output_names():
            self.actuators.offer(driver)
        return driver

    def start(self) -> list[asyncio.Task[None]]:
        """Receipts' re-announcement and the escalator, each restarted if it fails."""
        jobs = [(n, j) for n, j in (("receipts", self.receipts), ("escalation", self.escalator))
                if j is not None]  # fmt: skip
        return [asyncio.create_task(_keep_running(n, j.run), name=n) for n, j in jobs]


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
