"""``edge-agent simulate <device>``: simulators for tests, demos and installer training.

Each feature area contributes its simulator through ``register_simulator(subparsers)``
in a module listed in ``SIMULATOR_MODULES``; the heavy imports stay in the handlers.
"""

from __future__ import annotations

import importlib
from typing import Any

# Modules contributing "simulate <device>" sub-commands.
SIMULATOR_MODULES: tuple[str, ...] = ("agent.commands.modbus", "agent.commands.serial")


def register(sub: Any) -> None:
    group = sub.add_parser("simulate", help="run device simulators (elevators, ...)")
    simsub = group.add_subparsers(dest="simulator", metavar="DEVICE", required=True)
    for name in SIMULATOR_MODULES:
        importlib.import_module(name).register_simulator(simsub)
