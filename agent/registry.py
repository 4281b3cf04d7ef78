"""Driver kinds by config ``kind``, imported lazily.

Only configured kinds are imported, so a Modbus-only gateway never loads OpenCV or
onnxruntime. The table is explicit (no discovery magic); a test checks it against the
config union.
"""

from __future__ import annotations

import importlib
from typing import Any

from agent.driver import Driver, DriverConfigBase, DriverContext

# kind -> "module:Class" of the driver implementation.
DRIVERS: dict[str, str] = {
    "modbus": "drivers.modbus.driver:ModbusDriver",
    "synthetic": "drivers.synthetic.driver:SyntheticDriver",
    "camera": "vision.camera_driver:CameraDriver",
    "serial": "drivers.serial.driver:SerialDriver",
}


class UnknownKindError(LookupError):
    """A config names a kind this build does not have."""


def load_driver_class(kind: str) -> Any:
    try:
        target = DRIVERS[kind]
    except KeyError:
        raise UnknownKindError(f"no driver for kind {kind!r}; known: {sorted(DRIVERS)}") from None
    module_name, _, class_name = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, class_name)


def create_driver(config: DriverConfigBase, context: DriverContext) -> Driver:
    """Instantiate the driver for ``config`` (its ``kind`` selects the class)."""
    kind = getattr(config, "kind", None)
    if not isinstance(kind, str):
        raise UnknownKindError(f"driver config {config.name!r} has no kind")
    cls = load_driver_class(kind)
    driver: Driver = cls(config, context)
    return driver
