"""``edge-agent contract export DIR`` and ``contract check DIR``: the platform contract.

``export`` writes the JSON Schemas and the AsyncAPI document generated from the event
models (agent/contract/); ``check`` says whether DIR (docs/contract in the repository)
is up to date and compatible with its ``released/`` baseline (exit 0 yes, 1 no).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from agent.commands.common import EXIT_FAILURE, EXIT_OK


def register(sub: Any) -> None:
    group = sub.add_parser("contract", help="the platform contract: JSON Schemas and AsyncAPI")
    actions = group.add_subparsers(dest="contract_command", metavar="ACTION", required=True)
    export = actions.add_parser(
        "export",
        help="write the schemas and the AsyncAPI document to DIR",
        description="Write cloudevent.v1.schema.json, data/<type>.v<N>.schema.json, "
        "payloads/*.schema.json and asyncapi.json to DIR (docs/contract in the repository); "
        "contract files no longer generated are removed, released/ is left alone.",
    )
    export.add_argument("directory", metavar="DIR")
    export.set_defaults(handler=_export)
    check = actions.add_parser(
        "check",
        help="is DIR up to date and compatible with DIR/released? (exit 0 yes, 1 no)",
    )
    check.add_argument("directory", metavar="DIR", nargs="?", default="docs/contract")
    check.set_defaults(handler=_check)


def _export(args: argparse.Namespace) -> int:
    from agent.contract.export import export

    paths = export(Path(args.directory))
    print(f"wrote {len(paths)} files to {args.directory}", file=sys.stderr)
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    from agent.contract.export import RELEASED_DIR, release_problems, stale

    directory = Path(args.directory)
    problems = stale(directory)
    if problems:
        problems.append(f"run: edge-agent contract export {directory}")
    released = directory / RELEASED_DIR
    if released.is_dir():
        problems += release_problems(released)
    else:
        problems.append(f"{released}: no released baseline")
    for problem in problems:
        print(problem)
    return EXIT_FAILURE if problems else EXIT_OK
