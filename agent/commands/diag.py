"""``edge-agent diag``: one command that says what is wrong on this gateway and how to fix it.

Order: the config (parsed, then the start-up checks); the agent (running or not, from its
live status, agent/status.py); the uplink; every enabled driver through its kind's diag
hook (agent/kinds.py); the outbox; the clock, disk and host. A config that does not
parse stops the gateway checks but not the host ones. Each kind's hook is bounded by a
deadline, so one hung device cannot hang the command. Exit 0 only when nothing failed
(warnings and skips do not fail), else 1; an unreadable config is a failed check like
any other, so the crew still gets the host's figures.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from agent.commands.common import EXIT_FAILURE, EXIT_OK, add_json, print_json, print_table

DEFAULT_CONFIG = "/etc/edge-agent/config.yaml"
HOOK_DEADLINE_S = 60.0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "diag",
        help="check config, devices, uplink, outbox, clock, disk and host (exit 0: all passed)",
        description="Every check with its status, what was measured and, on failure, the "
        "likely fix (runbook: docs/operations.md). Safe beside a running agent: devices are "
        "then judged from the agent's live status, not opened a second time.",
    )
    p.add_argument("--config", "-c", default=DEFAULT_CONFIG, metavar="FILE", help="YAML config")
    add_json(p)
    p.add_argument(
        "--listen",
        type=float,
        default=3.0,
        metavar="S",
        help="seconds to listen to each serial port when the agent is stopped",
    )
    p.add_argument("--sysroot", default="/", help=argparse.SUPPRESS)  # fake trees in tests
    p.set_defaults(handler=_diag)


def _diag(args: argparse.Namespace) -> int:
    findings = asyncio.run(
        run_diag(Path(args.config), sysroot=Path(args.sysroot), listen_s=args.listen)
    )
    failed = [f for f in findings if f.failed]
    if args.json:
        print_json({"ok": not failed, "findings": [f.model_dump(mode="json") for f in findings]})
    else:
        rows = [
            {"check": f.check, "target": f.target, "status": f.status.upper(), "value": f.value}
            for f in findings
        ]
        print_table(rows, ("check", "target", "status", "value"))
        if failed:
            print("\nto fix:")
            for f in failed:
                print(f"  {f.check} {f.target}: {f.fix}")
        print(f"\n{len(failed)} failed, {len(findings) - len(failed)} passed/warned/skipped")
    return EXIT_FAILURE if failed else EXIT_OK


def _config_finding(path: Path) -> tuple[Any, Any]:
    """(loaded config or None, the ``config.valid`` finding)."""
    from agent.config import ConfigError, load_config
    from agent.config_checks import startup_problems
    from agent.diagnosis import Finding

    fix = f"run edge-agent config check {path} and correct the lines it names"
    try:
        loaded = load_config(path, check_files=False)
    except ConfigError as exc:
        first = "; ".join(str(i) for i in exc.issues[:3])
        return None, Finding(
            check="config.valid", target=str(path), status="fail", value=first, fix=fix
        )
    issues = loaded.issues(startup_problems(loaded.config))
    if issues:
        value = "; ".join(str(i) for i in issues[:3]) + (" ..." if len(issues) > 3 else "")
        return loaded, Finding(
            check="config.valid", target=str(path), status="fail", value=value, fix=fix
        )
    cfg = loaded.config
    value = f"gateway {cfg.gateway.id}, {len(cfg.drivers)} drivers"
    return loaded, Finding(check="config.valid", target=str(path), status="pass", value=value)


async def _driver_findings(cfg: Any, context: Any) -> list[Any]:
    from agent.diagnosis import Finding
    from agent.kinds import diag_hook, find

    out: list[Any] = []
    for driver in cfg.drivers:
        if not driver.enabled:
            continue
        kind = find(str(driver.kind))
        hook = diag_hook(kind)
        if hook is None:
            out.append(
                Finding(
                    check=f"{kind.name}.device",
                    target=driver.name,
                    status="skip",
                    value="this kind has no diag check",
                )
            )
            continue
        try:
            async with asyncio.timeout(HOOK_DEADLINE_S):
                out.extend(await hook(driver, context))
        except TimeoutError:
            out.append(
                Finding(
                    check=f"{kind.name}.device",
                    target=driver.name,
                    status="fail",
                    value=f"no answer within {HOOK_DEADLINE_S:.0f} s",
                    fix="the device or its library hangs: see the agent's log",
                )
            )
    return out


def _agent_finding(live: Any) -> Any:
    from agent.diagnosis import Finding

    if live is None:
        return Finding(
            check="agent.state",
            status="warn",
            value="not running: devices were opened by diag itself",
        )
    return Finding(
        check="agent.state",
        target=f"pid {live.pid}",
        status="pass",
        value=f"running {live.version}, devices judged from its live status",
    )


async def run_diag(path: Path, *, sysroot: Path = Path("/"), listen_s: float = 3.0) -> list[Any]:
    """Every finding, in the order the table prints them."""
    from agent.clock import clock_is_synchronised
    from agent.diag_checks import (
        broker_checks,
        buffer_checks,
        clock_check,
        disk_check,
        host_checks,
    )
    from agent.diagnosis import DiagContext
    from agent.gateway_health import Probes, measure
    from agent.status import live_status, status_path

    loaded, config = _config_finding(path)
    findings = [config]
    if loaded is None:
        readings = measure(Probes(root=sysroot, clock_synced=clock_is_synchronised))
        return [*findings, clock_check(readings), *host_checks(readings, sysroot)]
    cfg = loaded.config
    live = live_status(status_path(cfg.resolved_state_dir))
    context = DiagContext(state_dir=cfg.resolved_state_dir, live=live, listen_s=listen_s)
    findings.append(_agent_finding(live))
    findings += await broker_checks(cfg, context)
    findings += await _driver_findings(cfg, context)
    findings += buffer_checks(cfg, live)
    where = cfg.buffer.path.parent
    readings = measure(Probes(root=sysroot, disk_path=where, clock_synced=clock_is_synchronised))
    low = cfg.health.disk_low_fraction if cfg.health else 0.10
    findings += [clock_check(readings), disk_check(readings, where, low)]
    findings += host_checks(readings, sysroot)
    return findings
