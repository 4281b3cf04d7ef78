"""Core commands: ``run``, ``config check`` and ``buffer stats``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict
from typing import Any


def register(sub: Any) -> None:
    run = sub.add_parser("run", help="run the agent in the foreground")
    run.add_argument("--config", "-c", required=True, help="YAML config file")
    run.set_defaults(handler=_run)

    config = sub.add_parser("config", help="work with config files")
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = config_sub.add_parser("check", help="validate a config file (exit 0 valid, 2 not)")
    check.add_argument("path", help="YAML config file")
    check.set_defaults(handler=_check)

    buffer = sub.add_parser("buffer", help="inspect the local outbox")
    buffer_sub = buffer.add_subparsers(dest="buffer_command", metavar="ACTION", required=True)
    stats = buffer_sub.add_parser("stats", help="pending, dead-lettered and dropped counts")
    stats.add_argument("--config", "-c", required=True, help="YAML config file")
    stats.set_defaults(handler=_stats)
    requeue = buffer_sub.add_parser(
        "requeue-dead", help="send dead-lettered events again (after fixing the broker ACL)"
    )
    requeue.add_argument("--config", "-c", required=True, help="YAML config file")
    requeue.set_defaults(handler=_requeue)


def _load(path: str) -> Any:
    from agent.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return None


def _check(args: argparse.Namespace) -> int:
    loaded = _load(args.path)
    if loaded is None:
        return 2
    cfg = loaded.config
    kinds = ", ".join(f"{d.name} ({d.kind})" for d in cfg.drivers) or "none"
    print(f"{args.path}: OK — gateway {cfg.gateway.id}, drivers: {kinds}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from agent.app import run_agent
    from agent.logs import setup_logging

    loaded = _load(args.config)
    if loaded is None:
        return 2
    setup_logging(loaded.config.log_level)
    return asyncio.run(run_agent(loaded))


def _with_outbox(args: argparse.Namespace, fn: Any) -> int:
    from buffer.outbox import Outbox

    loaded = _load(args.config)
    if loaded is None:
        return 2

    async def go() -> Any:
        outbox = Outbox(loaded.config.buffer, source=f"/edge/{loaded.config.gateway.id}/buffer")
        await outbox.open()
        try:
            return await fn(outbox)
        finally:
            await outbox.close()

    result = asyncio.run(go())
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


def _stats(args: argparse.Namespace) -> int:
    async def fn(outbox: Any) -> dict[str, Any]:
        return asdict(await outbox.stats())

    return _with_outbox(args, fn)


def _requeue(args: argparse.Namespace) -> int:
    async def fn(outbox: Any) -> dict[str, Any]:
        return {"requeued": await outbox.requeue_dead()}

    return _with_outbox(args, fn)
