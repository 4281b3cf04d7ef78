"""Core commands: ``run``, ``config check`` and ``buffer stats|requeue-dead``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from agent.commands.common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    add_config,
    add_json,
    load_or_report,
    print_json,
    print_table,
    report,
)


def register(sub: Any) -> None:
    run = sub.add_parser("run", help="run the agent in the foreground")
    add_config(run)
    run.set_defaults(handler=_run)

    config = sub.add_parser("config", help="work with config files")
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = config_sub.add_parser(
        "check",
        help="check a config as start-up would, devices aside (exit 0 ok, 2 not)",
        description="Validate the file and run every start-up check that needs no device: "
        "TLS files readable with safe modes, state directory writable, Modbus profiles and "
        "rule keys, camera model files and their sha256.",
    )
    check.add_argument("path", nargs="?", metavar="FILE", help="YAML config (or --config)")
    add_config(check, required=False)
    check.add_argument(
        "--user", metavar="NAME", help="judge file access as this user (e.g. edge-agent)"
    )
    check.set_defaults(handler=_check)

    buffer = sub.add_parser("buffer", help="inspect the local outbox")
    buffer_sub = buffer.add_subparsers(dest="buffer_command", metavar="ACTION", required=True)
    stats = buffer_sub.add_parser("stats", help="pending, dead-lettered and dropped counts")
    _outbox_args(stats)
    add_json(stats)
    stats.set_defaults(handler=_stats)
    requeue = buffer_sub.add_parser(
        "requeue-dead", help="send dead-lettered events again (after fixing the broker ACL)"
    )
    _outbox_args(requeue)
    add_json(requeue)
    requeue.set_defaults(handler=_requeue)


def _outbox_args(p: argparse.ArgumentParser) -> None:
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--config", "-c", metavar="FILE", help="YAML config (its buffer section)")
    where.add_argument("--db", metavar="PATH", help="the outbox file itself")


def _check(args: argparse.Namespace) -> int:
    if (args.path is None) == (args.config is None):
        print("error: give the config file once: FILE or --config FILE", file=sys.stderr)
        return EXIT_USAGE
    path = args.path or args.config
    loaded = load_or_report(path, user=args.user)
    if loaded is None:
        return EXIT_USAGE
    cfg = loaded.config
    kinds = ", ".join(f"{d.name} ({d.kind})" for d in cfg.drivers) or "none"
    print(f"{path}: OK — gateway {cfg.gateway.id}, drivers: {kinds}")
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from agent.app import run_agent
    from agent.logs import setup_logging

    # run_agent runs the start-up checks itself (the same ones as config check).
    loaded = load_or_report(args.config, check_files=False)
    if loaded is None:
        return EXIT_USAGE
    setup_logging(loaded.config.log_level)
    from vision.native_log import capture_native_output

    capture_native_output()  # OpenCV/FFmpeg write to fd 2: into our log format instead
    import asyncio  # here, not at the top: ``config check`` has no use for it (~30 ms)

    return asyncio.run(run_agent(loaded))


def _buffer_config(args: argparse.Namespace) -> Any:
    """The outbox settings: from ``--db``, else the config's ``buffer`` section alone.

    Only that section has to be valid: a crew inspecting the outbox of a gateway whose
    config is broken elsewhere still gets its numbers.
    """
    from pydantic import ValidationError

    from buffer.config import BufferConfig

    if args.db:
        return BufferConfig(path=Path(args.db))
    from agent.config_yaml import ConfigError, load_yaml, read_bounded

    try:
        _, data = load_yaml(read_bounded(args.config).decode(errors="replace"), args.config)
    except ConfigError as exc:
        report(exc.issues)
        return None
    section = data.get("buffer") if isinstance(data, dict) else None
    try:
        return BufferConfig.model_validate(section)
    except ValidationError as exc:
        for e in exc.errors(include_url=False):
            where = ".".join(str(p) for p in ("buffer", *e["loc"]))
            print(f"{args.config}: {where}: {e['msg']}", file=sys.stderr)
        return None


def _gateway_id(args: argparse.Namespace) -> str:
    """The config's gateway id if it can be read, for the source of any event the outbox
    records while open (e.g. a corrupt file moved aside); else ``unknown``."""
    from agent.config_yaml import ConfigError, load_yaml, read_bounded

    if args.config:
        try:
            _, data = load_yaml(read_bounded(args.config).decode(errors="replace"), args.config)
        except ConfigError:
            return "unknown"
        gateway = data.get("gateway") if isinstance(data, dict) else None
        if isinstance(gateway, dict) and isinstance(gateway.get("id"), str):
            return str(gateway["id"])
    return "unknown"


def _with_outbox(args: argparse.Namespace, fn: Callable[[Any], Awaitable[Any]]) -> tuple[int, Any]:
    """(exit code, what ``fn`` returned on the open outbox)."""
    import asyncio

    from buffer.outbox import Outbox

    cfg = _buffer_config(args)
    if cfg is None:
        return EXIT_USAGE, None
    if not cfg.path.exists():
        print(f"error: no outbox at {cfg.path}", file=sys.stderr)
        return EXIT_FAILURE, None

    async def go() -> Any:
        outbox = Outbox(cfg, source=f"/edge/{_gateway_id(args)}/buffer")
        await outbox.open()
        try:
            return await fn(outbox)
        finally:
            await outbox.close()

    return EXIT_OK, asyncio.run(go())


def _flatten(doc: dict[str, Any], prefix: str = "") -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for key, value in doc.items():
        if isinstance(value, dict):
            rows.extend(_flatten(value, f"{prefix}{key}."))
        else:
            rows.append({"key": f"{prefix}{key}", "value": value})
    return rows


def _stats(args: argparse.Namespace) -> int:
    # Read-only (buffer/inspect.py): safe beside a running agent, and a damaged file is
    # reported, never moved aside, by an inspection.
    from buffer.inspect import InspectError, read_stats

    cfg = _buffer_config(args)
    if cfg is None:
        return EXIT_USAGE
    try:
        result = asdict(read_stats(cfg.path))
    except InspectError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if args.json:
        print_json(result)
        return EXIT_OK
    awaiting = result.pop("awaiting_receipt")
    print_table(_flatten(result), ("key", "value"))
    if awaiting:
        print(f"\n{len(awaiting)} alarm(s) awaiting the platform's receipt:")
        for row in awaiting:
            row["escalations"] = " ".join(f"{c}={s}" for c, s in row["escalations"].items())
        print_table(awaiting, ("id", "type", "subject", "age_s", "announced", "escalations"))
    return EXIT_OK


def _requeue(args: argparse.Namespace) -> int:
    async def fn(outbox: Any) -> dict[str, Any]:
        return {"requeued": await outbox.requeue_dead()}

    code, result = _with_outbox(args, fn)
    if code != EXIT_OK:
        return code
    if args.json:
        print_json(result)
    else:
        print(f"{result['requeued']} dead-lettered event(s) queued again")
    return EXIT_OK
