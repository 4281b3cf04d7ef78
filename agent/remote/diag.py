"""Remote ``diag``: the crews' ``edge-agent diag`` checks, run inside the running agent.

The same checks, values and one-line fixes as ``edge-agent diag`` (agent/commands/diag.py,
agent/diag_checks.py, each kind's hook named in agent/kinds.py), judged from the live
status the agent holds in memory (:class:`agent.status_collect.StatusCollector`) rather
than from ``status.json``: the live config, the broker through the agent's own uplink,
every enabled driver through its kind's hook with that live status (so no port or camera
is opened a second time), the outbox, the clock, disk and host. As beside a running agent
on site, the camera hook hashes the model file and times it on one frame.

The command line composes the same parts, but agent.commands sits above agent.app in the
import layers, so that composition is repeated here (a dozen lines) rather than imported.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent.clock import clock_is_synchronised
from agent.config_model import AgentConfig
from agent.diag_checks import broker_checks, buffer_checks, clock_check, disk_check, host_checks
from agent.diagnosis import DiagContext, Finding, Verdict
from agent.driver import DriverConfigBase
from agent.gateway_health import Probes, measure
from agent.kinds import KINDS, Kind, diag_hook, find
from agent.status import StatusSnapshot

HOOK_DEADLINE_S = 60.0  # as the command line: one hung device cannot hang the reply


def _device(kind: str, driver: str, status: Verdict, value: str, fix: str | None = None) -> Finding:
    return Finding(check=f"{kind}.device", target=driver, status=status, value=value, fix=fix)


async def driver_findings(
    cfg: AgentConfig, context: DiagContext, kinds: tuple[Kind, ...] = KINDS
) -> list[Finding]:
    out: list[Finding] = []
    drivers: list[DriverConfigBase] = list(cfg.drivers)
    for driver in drivers:
        if not driver.enabled:
            continue
        kind = find(str(getattr(driver, "kind", "")), kinds)
        hook = diag_hook(kind)
        if hook is None:
            out.append(_device(kind.name, driver.name, "skip", "this kind has no diag check"))
            continue
        try:
            async with asyncio.timeout(HOOK_DEADLINE_S):
                out.extend(await hook(driver, context))
        except TimeoutError:
            out.append(_device(kind.name, driver.name, "fail",
                               f"no answer within {HOOK_DEADLINE_S:.0f} s",
                               "the device or its library hangs: see the agent's log"))  # fmt: skip
    return out


async def diagnose(
    cfg: AgentConfig,
    live: StatusSnapshot,
    *,
    config_sha256: str,
    kinds: tuple[Kind, ...] = KINDS,
    sysroot: Path = Path("/"),
) -> list[Finding]:
    """Every finding, in the order ``edge-agent diag`` prints them."""
    value = (
        f"gateway {cfg.gateway.id}, {len(cfg.drivers)} drivers, live sha256 {config_sha256[:12]}"
    )
    findings = [
        Finding(check="config.valid", target="live config", status="pass", value=value),
        Finding(
            check="agent.state",
            target=f"pid {live.pid}",
            status="pass",
            value=f"running {live.version}, devices judged from its live status",
        ),
    ]
    context = DiagContext(state_dir=cfg.resolved_state_dir, live=live)
    findings += await broker_checks(cfg, context)
    findings += await driver_findings(cfg, context, kinds)
    findings += await asyncio.to_thread(buffer_checks, cfg, live)
    where = cfg.buffer.path.parent
    probes = Probes(root=sysroot, disk_path=where, clock_synced=clock_is_synchronised)
    readings = await asyncio.to_thread(measure, probes)
    low = cfg.health.disk_low_fraction if cfg.health else 0.10
    findings += [clock_check(readings), disk_check(readings, where, low)]
    findings += host_checks(readings, sysroot)
    return findings
