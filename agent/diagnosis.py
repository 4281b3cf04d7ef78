"""What one ``edge-agent diag`` check reports, and the contract of a kind's diag hook.

Base layer: each kind's hook lives in its own package (``drivers/modbus/diag.py``,
``drivers/serial/diag.py``, ``vision/diag.py``), named in the kinds table
(agent/kinds.py), and imports only this and agent/status.py, so no driver imports
another and the wiring imports none of them until ``diag`` runs.

A hook is called with its driver entry and a :class:`DiagContext`. When the agent is
running, ``context.live`` holds its status (agent/status.py) and the hook must judge the
devices from it, never open the ports and cameras the agent holds; :func:`judge_live`
does that the same way for every kind. When the agent is stopped, the hook talks to the
device itself, briefly and read-only.

Every finding says, on failure, the likely fix in one line; docs/operations.md has the
runbook entry for each check name.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from agent.status import DeviceStatus, StatusSnapshot

Verdict = Literal["pass", "warn", "fail", "skip"]


class Finding(BaseModel):
    """One check's result: ``check`` is a stable name (the runbook's heading)."""

    model_config = ConfigDict(defer_build=True)  # built by ``diag``, never by ``run``

    check: str
    target: str = Field(default="", description="Which device, file or host.")
    status: Verdict
    value: str = Field(default="", description="What was measured, in words.")
    fix: str | None = Field(default=None, description="The likely fix, one line.")
    measured: dict[str, Any] = Field(default_factory=dict, description="Figures for scripts.")

    @property
    def failed(self) -> bool:
        return self.status == "fail"


@dataclass(frozen=True)
class DiagContext:
    state_dir: Path
    cwd: Path = field(default_factory=Path.cwd)
    live: StatusSnapshot | None = None  # set when the agent is running
    listen_s: float = 3.0  # how long a serial port is listened to for frames
    timeout_s: float = 5.0  # per device answer, camera frame, broker connect
    now: float = field(default_factory=time.time)


class KindDiag(Protocol):
    """A kind's diag hook: ``async hook(driver_entry, context) -> findings``."""

    def __call__(self, config: Any, context: DiagContext, /) -> Awaitable[list[Finding]]: ...


@dataclass(frozen=True)
class LiveRule:
    """How to judge one device from the live status."""

    check: str  # e.g. "modbus.device"
    target: str  # e.g. "lifts/car-1"
    fix: str  # the fix when it is offline or silent
    stale_after_s: float | None = None  # silent for longer than this: fail


def judge_live(
    snapshot: StatusSnapshot, driver: str, device: str, rule: LiveRule, now: float
) -> Finding:
    """A device as the running agent sees it: offline or silent fails, not yet seen warns."""
    entry: DeviceStatus | None = snapshot.device(driver, device)
    drv = snapshot.driver(driver)

    def finding(status: Verdict, value: str, **extra: Any) -> Finding:
        return Finding(check=rule.check, target=rule.target, status=status, value=value, **extra)

    if entry is None:
        error = drv.last_error if drv is not None else "driver not running"
        return finding("fail", f"not reported by the agent ({error})", fix=rule.fix)
    if drv is not None and drv.state == "failing" and entry.state != "online":
        why = f"driver failing: {drv.last_error or 'no error recorded'} ({drv.restarts} restarts)"
        return finding("fail", why, fix=rule.fix, measured={"restarts": drv.restarts})
    age = StatusSnapshot.age_s(entry.last_seen, now)
    measured: dict[str, Any] = {"state": entry.state, "last_seen_age_s": age, **entry.details}
    seen = "never answered" if age is None else f"last answered {age:.0f} s ago"
    if entry.state == "offline":
        value = f"offline: {entry.reason or 'no reason given'}; {seen}"
        return finding("fail", value, fix=rule.fix, measured=measured)
    if age is not None and rule.stale_after_s is not None and age > rule.stale_after_s:
        return finding("fail", f"{entry.state}, but {seen}", fix=rule.fix, measured=measured)
    if entry.state != "online":
        value = f"{entry.state}: {entry.reason or ''}; {seen}".strip()
        return finding("warn", value, measured=measured)
    return finding("pass", f"online, {seen}", measured=measured)
