"""The ``edge-agent`` command line: run, check config, and the installers' tools.

Sub-commands come from small modules listed in ``COMMAND_MODULES``: the core ones here,
then each kind's CLI module from the kinds table (agent/kinds.py). Every such module, and
every module it nests, has one hook, ``register(subparsers)``, and keeps its heavy
imports inside the handlers, so ``edge-agent config check`` never loads pymodbus, OpenCV
or onnxruntime. Exit codes are in agent/commands/common.py: 0 ok, 1 runtime failure,
2 usage or config error.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from agent import __version__
from agent.kinds import command_modules

# Modules contributing sub-commands: each defines register(subparsers) -> None.
COMMAND_MODULES: tuple[str, ...] = (
    "agent.commands.core",
    "agent.commands.simulate",
    "agent.commands.console",
    "agent.commands.diag",
    "agent.commands.provision",
    "agent.commands.contract",
    *command_modules(),
)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole CLI; with ``command``, only up to the module that registers it (``run``
    is the core module's: the kinds' command groups cost ~15 ms of every start-up)."""
    parser = argparse.ArgumentParser(
        prog="edge-agent",
        description="Community edge-gateway agent: elevators, e-bike parking, store-and-forward.",
    )
    parser.add_argument("--version", action="version", version=f"edge-agent {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
        if command is not None and command in sub.choices:
            break
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # No pydantic plugins (the agent has none): finding them scans the entry points of
    # every installed distribution, ~10 ms of each start-up with every extra installed.
    # Before the first model is built; an operator's own setting wins.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    words = list(sys.argv[1:] if argv is None else argv)
    # The first word not an option is the command (the top level has only --help and
    # --version, which take no value).
    command = next((w for w in words if not w.startswith("-")), None)
    parser = build_parser(command)
    args = parser.parse_args(argv)
    handler = args.handler
    try:
        code: int = handler(args)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
