"""What each remote command does, on the running agent's own objects.

Every handler takes its validated request and the :class:`RemoteContext` and returns its
result model, or raises :class:`CommandError` with a reply error code. None of them runs
a process, a shell or anything named by the request: the allow-list is
:data:`COMMANDS`, and a request can only choose among the agent's own drivers, cameras
and log lines (../shared/research/anchors-gateways.md §2.6 and §8.4: the remote shell and
shell-in-config footguns).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from agent import __version__
from agent.clock import clock_is_synchronised
from agent.config_model import RemoteConfig
from agent.config_yaml import ConfigError, with_section
from agent.kinds import KINDS, Kind
from agent.remote.diag import diagnose
from agent.remote.errors import CommandError
from agent.remote.logtail import LogRing, Redactor, config_secrets
from agent.remote.models import (
    BufferRequeueDeadRequest,
    BufferStatsRequest,
    BufferStatsResult,
    ConfigApplyRequest,
    ConfigApplyResult,
    ConfigGetRequest,
    ConfigGetResult,
    DiagRequest,
    DiagResult,
    DriverRestartRequest,
    DriverRestartResult,
    LogsTailRequest,
    LogsTailResult,
    PingRequest,
    PingResult,
    Request,
    RequeueResult,
    SnapshotRequest,
    SnapshotResult,
)
from agent.remote.snapshot import take_snapshot
from agent.staged_apply import ApplyResult, StagedApply
from agent.status import StatusSnapshot
from agent.supervisor import Supervisor
from buffer.outbox import Outbox


@dataclass
class RemoteContext:
    """The running agent's parts the commands may use, and nothing else."""

    gateway_id: str
    config: RemoteConfig
    staged: StagedApply
    supervisor: Supervisor
    outbox: Outbox
    logs: LogRing
    redact: Redactor
    status: Callable[[], Awaitable[StatusSnapshot]]  # the live status, as status.json has it
    started: float  # time.monotonic() when the agent started
    kinds: tuple[Kind, ...] = KINDS

    @property
    def uptime_s(self) -> float:
        return round(time.monotonic() - self.started, 1)


async def ping(_req: PingRequest, ctx: RemoteContext) -> PingResult:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return PingResult(
        gateway=ctx.gateway_id,
        version=__version__,
        uptime_s=ctx.uptime_s,
        time=now,
        clock_synchronised=clock_is_synchronised(),
    )


def _masked(value: Any, redact: Redactor) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_masked(v, redact) for v in value]
    if isinstance(value, dict):
        return {k: _masked(v, redact) for k, v in value.items()}
    return value


async def config_get(_req: ConfigGetRequest, ctx: RemoteContext) -> ConfigGetResult:
    live = ctx.staged.current
    # mode="json" writes every SecretStr as "**********"; the redactor masks the rest
    # (passwords inside camera URLs).
    doc = _masked(live.config.model_dump(mode="json"), ctx.redact)
    return ConfigGetResult(sha256=live.sha256, config=doc)


def _apply_result(r: ApplyResult, redact: Redactor) -> ConfigApplyResult:
    """The staged apply's outcome as the reply's result; its texts redacted (a driver's
    error may quote a camera URL)."""
    return ConfigApplyResult(
        applied=r.ok,
        sha256=r.sha256,
        previous_sha256=r.previous_sha256,
        stage=r.stage,
        rolled_back=r.rolled_back,
        reason=redact(r.reason),
        problems=[redact(p) for p in r.problems],
        restarted=list(r.restarted),
        removed=list(r.removed),
        unhealthy={name: redact(why) for name, why in r.unhealthy.items()},
    )


def _new_text(req: ConfigApplyRequest, staged: StagedApply) -> str:
    if req.config is not None:
        return req.config
    try:
        return with_section(staged.text, str(staged.path), "drivers", req.drivers)
    except ConfigError as exc:  # the live file itself no longer parses
        raise CommandError("refused", "the live config cannot be read to merge into") from exc


async def config_apply(req: ConfigApplyRequest, ctx: RemoteContext) -> ConfigApplyResult:
    staged = ctx.staged
    if staged.busy:
        raise CommandError("refused", "another config.apply or driver.restart is running")
    health_s = req.health_s if req.health_s is not None else ctx.config.apply_health_s
    applied = await staged.apply(_new_text(req, staged), health_s=health_s)
    ctx.redact.add(config_secrets(staged.current.config))
    outcome = _apply_result(applied, ctx.redact)
    if outcome.applied:
        return outcome
    if outcome.stage in ("validate", "scope"):
        message = "the new config is not valid" if outcome.stage == "validate" else outcome.reason
        raise CommandError("refused", message, problems=outcome.problems, result=outcome)
    raise CommandError("failed", outcome.reason, problems=outcome.problems, result=outcome)


async def driver_restart(req: DriverRestartRequest, ctx: RemoteContext) -> DriverRestartResult:
    if req.driver not in ctx.supervisor.health:
        raise CommandError("refused", f"no running driver named {req.driver!r}")
    if ctx.staged.busy:
        raise CommandError("refused", "a config.apply is running; try again after it")
    try:
        await ctx.staged.restart_driver(req.driver)
    except KeyError:  # removed by a config.apply between the check and the lock
        raise CommandError("refused", f"no running driver named {req.driver!r}") from None
    return DriverRestartResult(driver=req.driver, state=ctx.supervisor.health[req.driver].state)


async def logs_tail(req: LogsTailRequest, ctx: RemoteContext) -> LogsTailResult:
    return LogsTailResult(lines=ctx.logs.tail(req.lines, req.level))


async def _buffer(ctx: RemoteContext) -> BufferStatsResult:
    s = await ctx.outbox.stats()
    age = s.oldest_pending_age_s
    return BufferStatsResult(
        pending=s.pending,
        pending_bytes=s.pending_bytes,
        dead=s.dead,
        bytes_by_priority=s.bytes_by_priority,
        dropped=s.dropped,
        last_seq=s.last_seq,
        oldest_pending_age_s=round(age, 1) if age is not None else None,
    )


async def buffer_stats(_req: BufferStatsRequest, ctx: RemoteContext) -> BufferStatsResult:
    return await _buffer(ctx)


async def buffer_requeue_dead(_req: BufferRequeueDeadRequest, ctx: RemoteContext) -> RequeueResult:
    return RequeueResult(requeued=await ctx.outbox.requeue_dead())


async def diag(_req: DiagRequest, ctx: RemoteContext) -> DiagResult:
    live = ctx.staged.current
    findings = await diagnose(
        live.config, await ctx.status(), config_sha256=live.sha256, kinds=ctx.kinds
    )
    docs = [_masked(f.model_dump(mode="json"), ctx.redact) for f in findings]
    return DiagResult(
        gateway=ctx.gateway_id,
        version=__version__,
        uptime_s=ctx.uptime_s,
        config_sha256=live.sha256,
        ok=not any(f.failed for f in findings),
        failed=[f"{f.check} {f.target}".strip() for f in findings if f.failed],
        findings=docs,
    )


async def snapshot(req: SnapshotRequest, ctx: RemoteContext) -> SnapshotResult:
    return await take_snapshot(req, ctx.supervisor)


Handler = Callable[[Any, RemoteContext], Awaitable[BaseModel]]


@dataclass(frozen=True)
class Command:
    request: type[Request]
    handler: Handler
    timeout_s: float = 30.0


# The allow-list. Nothing outside this table can be asked of the gateway.
COMMANDS: dict[str, Command] = {
    "ping": Command(PingRequest, ping),
    "diag": Command(DiagRequest, diag),
    "config.get": Command(ConfigGetRequest, config_get),
    # Health window (<= 300 s), then a rollback's own window: bounded well below an hour.
    "config.apply": Command(ConfigApplyRequest, config_apply, timeout_s=700.0),
    "driver.restart": Command(DriverRestartRequest, driver_restart),
    "logs.tail": Command(LogsTailRequest, logs_tail),
    "buffer.stats": Command(BufferStatsRequest, buffer_stats),
    "buffer.requeue-dead": Command(BufferRequeueDeadRequest, buffer_requeue_dead),
    "snapshot": Command(SnapshotRequest, snapshot),
}
