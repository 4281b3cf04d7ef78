"""The data of the gateway's own ``gateway.*`` events and its retained status message.

The supervisor, the watchdog and the forwarder build their event ``data`` from these
models, and the contract (agent/event_types.py, docs/contract/) is generated from them,
so the published schema and what is sent cannot drift apart. Pydantic only: every layer
may import this module.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.events import EventData

Count = Annotated[int, Field(ge=0)]


class GatewayHealth(EventData):
    """A supervised driver changed state (on transitions only, docs/events.md)."""

    driver: str = Field(description="The driver's configured name.")
    state: str = Field(description="starting, running or failing.")
    restarts: Count
    error: str | None = Field(description="The last failure, null once running again.")


class ForwardRejected(EventData):
    """The broker refused publishes (PUBACK >= 0x80), or a row cannot fit its packet size."""

    rejected: Count = Field(description="Refusals since the last report.")
    last_reason: str
    dead_lettered_total: Count


class ForwardStalled(EventData):
    """A backlog and no delivery for the stall time; once per stall."""

    pending: Count
    stalled_s: Count
    connected: bool = Field(description="Whether the uplink was up during the stall.")


class GatewayStatus(BaseModel):
    """The retained presence message on ``edge/{gateway_id}/status``.

    ``online`` (the birth message) carries the version, the configuration fingerprint and
    the site; ``offline`` carries why: ``shutdown`` (clean stop) or ``connection lost`` (the
    MQTT last will, published by the broker).
    """

    model_config = ConfigDict(extra="forbid")

    state: Literal["online", "offline"]
    gateway: str
    version: str | None = None
    config_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    site: str | None = None
    reason: Literal["shutdown", "connection lost"] | None = None

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_unset=True).encode()


class Receipt(BaseModel):
    """The platform's confirmation of an alarm, on ``edge/{gateway_id}/receipts`` (QoS 1).

    ``stored``: the platform has the alarm durably; ``acknowledged``: an operator saw it.
    ``by`` is an opaque operator reference, never a name (issue 13 item 2).
    """

    model_config = ConfigDict(extra="forbid", defer_build=True)  # the contract's; not used by run

    id: str = Field(description="The alarm event's id.")
    stage: Literal["stored", "acknowledged"]
    by: str = Field(description="Opaque operator reference.")


class CommandRequest(BaseModel):
    """A remote-management request on ``edge/{gateway_id}/cmd/{name}`` (issue 14 item 5).

    Sent with the MQTT v5 Response Topic and Correlation Data properties; the reply goes to
    that topic with the same correlation data. The arguments are the command's own (none
    for ``ping``); the commands module registers their models here when it lands.
    """

    model_config = ConfigDict(extra="allow", defer_build=True)


class CommandReply(BaseModel):
    """The gateway's answer to a :class:`CommandRequest`, on the request's response topic."""

    model_config = ConfigDict(extra="allow", defer_build=True)


def config_fingerprint(config: BaseModel) -> str:
    """sha256 of the validated config in a canonical form, secrets masked.

    Sent in the retained birth message, which anyone allowed to read ``edge/+/status``
    sees: a hash of the raw file (password included) would be an offline password-
    guessing oracle. Pydantic's JSON dump writes every ``SecretStr`` as ``**********``.
    """
    canonical = json.dumps(json.loads(config.model_dump_json()), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()
