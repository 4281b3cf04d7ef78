"""The platform's alarm receipts: the ``edge/{id}/receipts`` handler and re-announcement.

A PUBACK only proves the broker has an alarm, not that anyone saw it (issue 13). The
platform confirms each alarm of a configured class by publishing
``{"id": …, "stage": "stored" | "acknowledged", "by": "<opaque operator ref>"}`` at QoS 1
to the gateway's own receipts topic (docs/events.md). Until a receipt arrives, the alarm
stays in the outbox's database (buffer/receipts.py) and is re-announced with the same id
every ``reannounce_s``; the escalation component (agent/escalation.py) takes over when no
``stored`` receipt came within ``escalate_after_s``.

Receipts for ids we never asked about, malformed payloads (bad JSON, unknown stage,
names where an opaque ref belongs are not ours to judge: ``by`` is stored as given, at
most 64 characters) and messages on other topics (agent/inbound.py) are counted and
ignored, never an error that could cost the uplink.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.escalation_config import ReceiptsConfig
from agent.inbound import InboundMessage, Reply
from buffer import receipts as db
from buffer.outbox import Outbox
from buffer.receipts import ReceiptClass, ReceiptCounts, ReceiptPolicy

log = logging.getLogger(__name__)

TOPIC_SUFFIX = "receipts"


class Receipt(BaseModel):
    """The payload of ``edge/{gateway_id}/receipts`` (the platform writes it)."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)  # on the first receipt

    id: str = Field(min_length=1, max_length=64, description="The alarm's CloudEvents id.")
    stage: Literal["stored", "acknowledged"]
    by: str = Field(default="", max_length=64, description="Opaque operator reference.")


def receipt_policy(config: ReceiptsConfig) -> ReceiptPolicy:
    classes = tuple(ReceiptClass(c.type, c.min_severity, tuple(c.keys)) for c in config.classes)
    return ReceiptPolicy(classes=classes, reannounce_s=config.reannounce_s)


class Receipts:
    """Applies receipts to the outbox's database and re-announces what is still open."""

    def __init__(self, config: ReceiptsConfig, outbox: Outbox) -> None:
        self.config = config
        self.outbox = outbox
        self.counts = ReceiptCounts()
        self.reannounced = 0
        self._malformed_logged = False

    async def handle(self, message: InboundMessage, _reply: Reply) -> None:
        """The inbound route's handler (agent/inbound.py runs it in its own task)."""
        try:
            receipt = Receipt.model_validate_json(message.payload)
        except ValidationError as exc:
            self.counts.malformed += 1
            if not self._malformed_logged:  # a transition worth one line, not a flood
                self._malformed_logged = True
                log.warning("malformed receipt ignored (counted from now on): %s",
                            exc.errors()[0].get("msg"))  # fmt: skip
            return
        now = time.time()
        result = await self.outbox.call(
            lambda s: db.apply_receipt(s.conn, receipt.id, receipt.stage, receipt.by, now)
        )
        if result == "unknown":
            self.counts.unknown += 1
        elif result == "duplicate":
            self.counts.duplicate += 1
        else:
            self.counts.applied += 1
            self.counts.by_stage[receipt.stage] = self.counts.by_stage.get(receipt.stage, 0) + 1
            log.info("alarm %s receipted: %s", receipt.id, receipt.stage)

    async def run(self) -> None:
        """Re-announce due alarms until cancelled (every quarter period, at most 1 s)."""
        tick = min(1.0, self.config.reannounce_s / 4)
        try:
            while True:
                ids = await self.outbox.reannounce(time.time())
                if ids:
                    self.reannounced += len(ids)
                    log.debug("re-announced %d unreceipted alarms", len(ids))
                await asyncio.sleep(tick)
        finally:
            c = self.counts
            log.info("receipts: %d applied, %d duplicate, %d unknown id, %d malformed; "
                     "%d re-announcements", c.applied, c.duplicate, c.unknown, c.malformed,
                     self.reannounced)  # fmt: skip
