"""``edge-agent simulate <device>``: simulators for tests, demos and installer training.

Each kind with a simulator names its module in the kinds table (agent/kinds.py); the
module's ``register(simulate_subparsers)`` adds its device, keeping heavy imports inside
the handlers.
"""

from __future__ import annotations

import importlib
from typing import Any

from agent.kinds import simulator_modules

# Modules contributing "simulate <device>" sub-commands (from the kinds table).
SIMULATOR_MODULES: tuple[str, ...] = simulator_modules()


def register(sub: Any) -> None:
    group = sub.add_parser("simulate", help="run device simulators (elevators, ...)")
    simsub = group.add_subparsers(dest="simulator", metavar="DEVICE", required=True)
    for name in SIMULATOR_MODULES:
        importlib.import_module(name).register(simsub)
