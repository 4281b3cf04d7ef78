"""The remote commands' wire schema: one pydantic request and result model per command,
the reply envelope, and the ``gateway.command`` event's data.

Requests are strict (``extra="forbid"``): a field the gateway does not know is a malformed
request, never silently ignored, so a platform typo cannot look like a success. Every
request may carry ``requester``, the opaque reference of who asked (an MQTT v5 user
property of the same name takes precedence); it is recorded, never a person's name.
docs/remote.md documents each model; the lead builds JSON Schemas from them (issue 13).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent.events import EventData

# What a requester reference may look like: an opaque id, not free text (no names, no
# secrets pasted by mistake make it into the audit event beyond these characters).
REQUESTER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,63}$"
DRIVER_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"  # as agent.driver.DriverConfigBase


class Request(BaseModel):
    """Fields every command accepts."""

    # Built on the first command (defer_build): most gateways run for days without one,
    # and the ~20 command models cost ~1 MB built (issue 19 item 1).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    requester: str | None = Field(default=None, pattern=REQUESTER_PATTERN)


class PingRequest(Request):
    pass


class DiagRequest(Request):
    pass


class ConfigGetRequest(Request):
    pass


class BufferStatsRequest(Request):
    pass


class BufferRequeueDeadRequest(Request):
    pass


class ConfigApplyRequest(Request):
    """Exactly one of ``config`` (the whole YAML text) or ``drivers`` (the new driver list;
    everything else is kept as it is live)."""

    config: str | None = Field(default=None, max_length=256 * 1024)
    drivers: list[dict[str, Any]] | None = Field(default=None, max_length=256)
    health_s: float | None = Field(default=None, ge=1, le=300)

    @model_validator(mode="after")
    def _exactly_one(self) -> ConfigApplyRequest:
        if (self.config is None) == (self.drivers is None):
            raise ValueError("give exactly one of 'config' (YAML text) or 'drivers' (a list)")
        if self.drivers is not None and _depth(self.drivers) > MAX_DRIVERS_DEPTH:
            raise ValueError(f"'drivers' nests deeper than {MAX_DRIVERS_DEPTH} levels")
        return self


MAX_DRIVERS_DEPTH = 32  # a real driver entry nests a few levels; the YAML reader allows 64


def _depth(value: Any) -> int:
    """Nesting depth of lists and mappings, without recursion (the input is untrusted)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
    return deepest


class DriverRestartRequest(Request):
    driver: str = Field(pattern=DRIVER_NAME_PATTERN)


class LogsTailRequest(Request):
    lines: int = Field(default=100, ge=1, le=1000)
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "DEBUG"


class SnapshotRequest(Request):
    camera: str = Field(pattern=DRIVER_NAME_PATTERN)
    max_width: int = Field(default=640, ge=64, le=1920)
    max_bytes: int = Field(default=200_000, ge=10_000, le=1_000_000)


# -- results -------------------------------------------------------------------------------


class Result(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)


class PingResult(Result):
    gateway: str
    version: str
    uptime_s: float
    time: str  # the gateway's UTC clock, RFC 3339
    clock_synchronised: bool


class BufferStatsResult(Result):
    pending: int
    pending_bytes: int
    dead: int
    bytes_by_priority: dict[str, int]
    dropped: dict[str, int]
    last_seq: int
    oldest_pending_age_s: float | None


class DiagResult(Result):
    """``edge-agent diag``'s findings, run in the agent on its live state
    (agent/remote/diag.py); each finding is ``{check, target, status, value, fix, measured}``
    as in ``edge-agent diag --json``."""

    source: Literal["agent"] = "agent"
    gateway: str
    version: str
    uptime_s: float
    config_sha256: str
    ok: bool  # no finding failed (warnings and skips do not fail)
    failed: list[str]  # "check target" of each failure
    findings: list[dict[str, Any]]


class ConfigGetResult(Result):
    sha256: str  # of the live file's bytes, as in the birth message's config_sha256 source
    config: dict[str, Any]  # the validated config, secrets masked


class ConfigApplyResult(Result):
    applied: bool
    sha256: str  # the config live now (the new one, or the previous after a rollback)
    previous_sha256: str
    stage: str  # validate | scope | stage | health | applied | unchanged
    rolled_back: bool
    reason: str
    problems: list[str]
    restarted: list[str]
    removed: list[str]
    unhealthy: dict[str, str]


class DriverRestartResult(Result):
    driver: str
    state: str


class LogsTailResult(Result):
    lines: list[str]
    redacted: bool = True  # always: secrets are masked when a line is captured


class RequeueResult(Result):
    requeued: int


class SnapshotResult(Result):
    camera: str
    content_type: Literal["image/jpeg"] = "image/jpeg"
    frame_width: int  # of the camera's frame; the JPEG is scaled to max_width at most
    frame_height: int
    age_s: float  # the frame's age: the camera's last sample, at most one interval old
    bytes: int
    sha256: str
    jpeg_base64: str
    people_masked: int  # persons found and blurred before encoding


# -- the envelope --------------------------------------------------------------------------

ErrorCode = Literal[
    "unknown_command",  # not on the allow-list
    "malformed",  # not a JSON object, or fails the command's schema
    "refused",  # understood but not allowed now (scope, busy, no such driver or camera)
    "failed",  # ran and did not succeed (e.g. config.apply rolled back)
    "internal",  # a bug on the gateway; the reply says so instead of silence
]


class ErrorInfo(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    code: ErrorCode
    message: str
    problems: list[str] = Field(default_factory=list)


class CommandReply(BaseModel):
    """What the gateway publishes on the request's response topic."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    command: str
    gateway: str
    ok: bool
    result: dict[str, Any] | None = None
    error: ErrorInfo | None = None


Outcome = Literal["ok", "error", "rejected"]


class CommandEventData(EventData):
    """``data`` of the ``gateway.command`` event: one per command received on our topic.

    ``outcome``: ``ok``; ``error`` (it ran and failed, e.g. a rolled-back config.apply);
    ``rejected`` (unknown, malformed or refused, nothing was done).
    """

    model_config = ConfigDict(frozen=True)

    command: str
    outcome: Outcome
    requester: str | None
    error: ErrorCode | None = None
    replied: bool  # a response topic was given and the reply was handed to the uplink
    config_sha256: str | None = None  # config.apply: the config live afterwards
