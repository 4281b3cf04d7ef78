"""The ``edge-agent`` command line: run, check config, and the installers' tools.

Feature areas add sub-commands through small modules listed in ``COMMAND_MODULES``; each
exposes ``register(subparsers)`` and keeps its heavy imports inside the handlers, so
``edge-agent config check`` never loads pymodbus, OpenCV or onnxruntime.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from agent import __version__

# Modules contributing sub-commands: each defines register(subparsers) -> None.
COMMAND_MODULES: tuple[str, ...] = (
    "agent.commands.modbus",
    "agent.commands.simulate",
    "agent.commands.core",
    "agent.commands.vision",
    "agent.commands.camera",
    "agent.commands.serial",
)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edge-agent",
        description="Community edge-gateway agent: elevators, vital signs, e-bike parking.",
    )
    parser.add_argument("--version", action="version", version=f"edge-agent {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = args.handler
    try:
        code: int = handler(args)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
