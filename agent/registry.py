"""Drivers by config ``kind``, imported lazily, derived from the kinds table.

Only configured kinds are imported, so a Modbus-only gateway never loads OpenCV or
onnxruntime. The table itself is agent/kinds.py; this module turns a driver config into
a running driver through the typed :class:`agent.driver.DriverFactory`.
"""

from __future__ import annotations

from agent.driver import Driver, DriverConfigBase, DriverContext, DriverFactory
from agent.kinds import KINDS, Kind, UnknownKindError, by_name, driver_factory, find

__all__ = ["DRIVERS", "UnknownKindError", "create_driver", "load_driver_class"]

# kind -> "module:Class" of the driver implementation.
DRIVERS: dict[str, str] = {name: kind.driver for name, kind in by_name().items()}


def load_driver_class(kind: str, kinds: tuple[Kind, ...] = KINDS) -> DriverFactory:
    return driver_factory(find(kind, kinds))


def create_driver(
    config: DriverConfigBase, context: DriverContext, kinds: tuple[Kind, ...] = KINDS
) -> Driver:
    """Instantiate the driver for ``config`` (its ``kind`` selects the class)."""
    kind = getattr(config, "kind", None)
    if not isinstance(kind, str):
        raise UnknownKindError(f"driver config {config.name!r} has no kind")
    return load_driver_class(kind, kinds)(config, context)
