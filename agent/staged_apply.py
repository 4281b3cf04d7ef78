"""Staged apply with automatic rollback: a new config goes live only if the agent stays healthy.

Shared by the local console's zone editor (issue 15) and remote ``config.apply`` (issue 14).
One call, :meth:`StagedApply.apply`, does the whole cycle, one apply at a time:

1. **Validate** the new YAML exactly as ``edge-agent config check`` does (the schema, then
   :func:`agent.config_checks.startup_problems` through :func:`agent.config.parse_config`),
   with ``FILE:LINE key.path`` messages. Nothing is written when it fails.
2. **Refuse what cannot be applied live**: a change outside ``drivers`` (gateway id, broker,
   buffer, console...) needs a restart of the agent, so it is refused with the sections named
   rather than half-applied.
3. **Stage** the text as ``<config>.staged`` next to the live file (fsynced), then **swap**:
   the live file is kept as ``<config>.previous`` and the staged one renamed over the live
   path. Each step is an atomic rename, so the live path always holds a whole config.
4. **Reconfigure** the running supervisor: only the drivers whose entry changed (or that were
   added) are restarted; removed ones are stopped; the rest keep running untouched.
5. **Health-check** for up to ``health_s`` seconds: every restarted driver must reach state
   ``running`` (it emitted an event or survived the supervisor's settle time) without a
   single failure. A failure, or the deadline passing, is unhealthy.
6. **Roll back** when unhealthy: the previous text goes back to the live path, the supervisor
   is reconfigured with the previous drivers, and the result says so with the reason.

The result carries the sha256 of the config now live (the same hash ``LoadedConfig`` and the
forwarder's birth use: of the file's bytes). The caller reports the outcome as its own event
(``gateway.console.change``, ``gateway.command``); this module only logs transitions.

The service user needs write access to the config's directory for the staging file and the
swap; without it the apply fails at the staging step with the OS's reason and nothing changes.

Use::

    staged = StagedApply(loaded, agent.supervisor, kinds=agent.kinds)
    result = await staged.apply(new_yaml_text, health_s=20)
    result.ok, result.sha256, result.rolled_back, result.problems, result.reason
    staged.current            # the LoadedConfig now live
    await staged.restart_driver("lift-a")   # driver.restart: one driver in place
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from agent.config import ConfigError, LoadedConfig, parse_document, to_issues
from agent.config_checks import startup_problems
from agent.config_model import AgentConfig
from agent.kinds import KINDS, Kind
from agent.supervisor import Reconfigured, Supervisor

log = logging.getLogger(__name__)

DEFAULT_HEALTH_S = 20.0
_POLL_S = 0.2  # health polling only while an apply is in progress


@dataclass(frozen=True)
class ApplyResult:
    """The outcome of one :meth:`StagedApply.apply`.

    ``ok`` is true only when the new config is live and healthy. ``sha256`` is the hash of
    the config live afterwards (the new one, or the previous one after a refusal or rollback).
    """

    ok: bool
    sha256: str
    previous_sha256: str
    stage: str  # "validate" | "scope" | "stage" | "health" | "applied" | "unchanged"
    reason: str = ""
    problems: tuple[str, ...] = ()  # FILE:LINE key.path: message lines from validation
    restarted: tuple[str, ...] = ()  # drivers started with the new config
    removed: tuple[str, ...] = ()
    rolled_back: bool = False
    unhealthy: dict[str, str] = field(default_factory=dict)  # driver -> why

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "sha256": self.sha256,
            "previous_sha256": self.previous_sha256,
            "stage": self.stage,
            "reason": self.reason,
            "problems": list(self.problems),
            "restarted": list(self.restarted),
            "removed": list(self.removed),
            "rolled_back": self.rolled_back,
            "unhealthy": dict(self.unhealthy),
        }


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def validate_text(
    text: str, file: str, *, kinds: tuple[Kind, ...] = KINDS
) -> tuple[AgentConfig | None, dict[tuple[str | int, ...], int], list[str]]:
    """``config check`` on ``text``: the config and its key lines, or the problem lines."""
    try:
        cfg, lines = parse_document(text, file, kinds=kinds)
    except ConfigError as exc:
        return None, {}, [str(i) for i in exc.issues]
    issues = to_issues(startup_problems(cfg, kinds=kinds), file, lines)
    if issues:
        return None, lines, [str(i) for i in issues]
    return cfg, lines, []


def outside_drivers(old: AgentConfig, new: AgentConfig) -> list[str]:
    """Top-level sections other than ``drivers`` that differ (they need an agent restart)."""
    keys = (set(type(old).model_fields) | set(type(new).model_fields)) - {"drivers"}
    return sorted(k for k in keys if getattr(old, k, None) != getattr(new, k, None))


def _write_synced(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def swap_in(live: Path, text: str) -> Path:
    """Stage ``text`` beside ``live`` and rename it over; the old file stays as ``.previous``.

    Returns the ``.previous`` path. Every rename is atomic, so a crash at any point leaves a
    whole config at ``live`` (the old or the new one).
    """
    staged = live.with_name(live.name + ".staged")
    previous = live.with_name(live.name + ".previous")
    mode = live.stat().st_mode & 0o777 if live.exists() else 0o640
    _write_synced(staged, text.encode(), mode)
    old = live.read_bytes()
    keep = live.with_name(live.name + ".previous.tmp")
    _write_synced(keep, old, mode)
    keep.replace(previous)
    staged.replace(live)
    _fsync_dir(live.parent)
    return previous


def restore(live: Path, text: str) -> None:
    """Put ``text`` back at ``live`` atomically (the rollback of :func:`swap_in`)."""
    tmp = live.with_name(live.name + ".rollback")
    mode = live.stat().st_mode & 0o777 if live.exists() else 0o640
    _write_synced(tmp, text.encode(), mode)
    tmp.replace(live)
    _fsync_dir(live.parent)


def _read_or_empty(path: Path) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return ""


class StagedApply:
    """Applies new configs to a running agent, one at a time (see the module docstring)."""

    def __init__(
        self,
        loaded: LoadedConfig,
        supervisor: Supervisor,
        *,
        kinds: tuple[Kind, ...] = KINDS,
        text: str | None = None,
        on_applied: Callable[[AgentConfig], None] | None = None,
    ) -> None:
        self.current = loaded
        # Told each config that went live and stayed (the birth's config hash follows it).
        self._on_applied = on_applied
        self._supervisor = supervisor
        self._kinds = kinds
        # The live file's text as loaded at start-up (what a rollback restores).
        self._text = text if text is not None else _read_or_empty(loaded.path)
        self._lock = asyncio.Lock()

    @property
    def path(self) -> Path:
        return self.current.path

    @property
    def text(self) -> str:
        """The YAML text of the config now live."""
        return self._text

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    async def restart_driver(self, name: str) -> None:
        """Restart one driver in place (KeyError for a name that is not running)."""
        async with self._lock:
            await self._supervisor.restart(name)

    async def apply(self, text: str, *, health_s: float = DEFAULT_HEALTH_S) -> ApplyResult:
        """Validate, stage, swap, reconfigure, health-check; roll back when unhealthy."""
        async with self._lock:
            return await self._apply(text, health_s)

    async def _apply(self, text: str, health_s: float) -> ApplyResult:
        before = self.current
        prev_sha = before.sha256
        cfg, lines, problems = validate_text(text, str(before.path), kinds=self._kinds)
        if cfg is None:
            return ApplyResult(False, prev_sha, prev_sha, "validate",
                               "the new config is not valid", tuple(problems))  # fmt: skip
        outside = outside_drivers(before.config, cfg)
        if outside:
            why = f"changes to {', '.join(outside)} need an agent restart; not applied live"
            return ApplyResult(False, prev_sha, prev_sha, "scope", why)
        new_sha = sha256_text(text)
        if new_sha == prev_sha:
            return ApplyResult(True, prev_sha, prev_sha, "unchanged", "same config")
        try:
            await asyncio.to_thread(swap_in, before.path, text)
        except OSError as exc:
            why = f"cannot stage next to {before.path}: {exc.strerror or exc}"
            log.error("config apply failed: %s", why)
            return ApplyResult(False, prev_sha, prev_sha, "stage", why)
        old_text = self._text
        self.current, self._text = LoadedConfig(cfg, before.path, new_sha, lines), text
        done = await self._supervisor.reconfigure(list(cfg.drivers))
        unhealthy = await wait_healthy(self._supervisor, done.started, health_s)
        if not unhealthy:
            log.info("config %s applied (was %s); restarted %s", new_sha[:12], prev_sha[:12],
                     list(done.started) or "none")  # fmt: skip
            if self._on_applied is not None:
                self._on_applied(cfg)
            return ApplyResult(True, new_sha, prev_sha, "applied",
                               restarted=done.started, removed=done.removed)  # fmt: skip
        await self._roll_back(before, old_text, unhealthy)
        why = "; ".join(f"{n}: {w}" for n, w in sorted(unhealthy.items()))
        return ApplyResult(False, prev_sha, prev_sha, "health", f"rolled back: {why}",
                           restarted=done.started, removed=done.removed,
                           rolled_back=True, unhealthy=unhealthy)  # fmt: skip

    async def _roll_back(self, before: LoadedConfig, text: str, why: dict[str, str]) -> None:
        log.warning("config %s unhealthy (%s); rolling back to %s",
                    self.current.sha256[:12], why, before.sha256[:12])  # fmt: skip
        try:
            await asyncio.to_thread(restore, before.path, text)
        except OSError as exc:
            log.error("rollback could not rewrite %s: %s", before.path, exc)
        self.current, self._text = before, text
        done: Reconfigured = await self._supervisor.reconfigure(list(before.config.drivers))
        still = await wait_healthy(self._supervisor, done.started, DEFAULT_HEALTH_S)
        if still:
            log.error("after rollback drivers still unhealthy: %s", still)


async def wait_healthy(
    supervisor: Supervisor, names: tuple[str, ...], within_s: float
) -> dict[str, str]:
    """Wait until every driver in ``names`` runs without a failure; {} or driver -> why.

    A driver is healthy once its state is ``running`` and it has not failed since it was
    (re)started; any failure in the window, or not running by the deadline, is unhealthy.
    """
    start = {n: supervisor.health[n].restarts for n in names if n in supervisor.health}
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        bad: dict[str, str] = {}
        waiting: list[str] = []
        for name, restarts in start.items():
            h = supervisor.health.get(name)
            if h is None:
                bad[name] = "not supervised"
            elif h.restarts > restarts or h.state == "failing":
                bad[name] = f"failed: {h.last_error}"
            elif h.state != "running":
                waiting.append(name)
        if bad:
            return bad
        if not waiting:
            return {}
        if asyncio.get_running_loop().time() >= deadline:
            return dict.fromkeys(waiting, f"not running after {within_s:g} s")
        await asyncio.sleep(_POLL_S)
