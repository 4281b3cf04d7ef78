"""The one table of device kinds: everything the agent needs to know about each kind.

A kind is a config model (light: pydantic and the agent base only), a driver class, a CLI
module, a simulator module, the pip extra that brings its third-party libraries and an
optional start-up check and ``edge-agent diag`` hook (agent/diagnosis.py). The config
union (agent/config.py), the driver registry (agent/registry.py), the CLI groups
(agent/cli.py) and ``edge-agent simulate`` are all derived from :data:`KINDS`, so adding
a kind is one entry here plus the kind's own package (docs/adding-a-kind.md).

Everything is named by a dotted path and imported only when used, the config models
included: a config is read by first looking at its drivers' ``kind`` keys and building the
model from those kinds alone (agent/config_model.py), so a Modbus-only gateway never loads
OpenCV, onnxruntime or numpy, nor builds the camera's config schema (issue 19 items 1-2:
every kind's pydantic model cost start-up time and memory on every gateway).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast, get_args

from agent.driver import DriverConfigBase, DriverFactory, KindCheck

if TYPE_CHECKING:  # agent.diagnosis imports the status models: only ``diag`` needs them
    from agent.diagnosis import KindDiag


@dataclass(frozen=True)
class Kind:
    """One device kind. Dotted targets are ``"module:attribute"``, modules ``"module"``.

    ``config`` is the config model or, for the table's own kinds, its dotted path; then
    ``kind`` must give the ``kind:`` value, so that naming a kind imports nothing.
    """

    config: type[DriverConfigBase] | str
    driver: str  # "module:Class", the class satisfies agent.driver.DriverFactory
    cli: str | None = None  # module with register(subparsers): the kind's command group
    simulator: str | None = None  # module with register(simulate_subparsers)
    extra: str | None = None  # pip extra with the kind's libraries: edge-agent[extra]
    check: str | None = None  # "module:function", satisfies agent.driver.KindCheck
    diag: str | None = None  # "module:function", satisfies agent.diagnosis.KindDiag
    kind: str = ""  # the ``kind:`` value; read from the model's Literal when empty

    @property
    def name(self) -> str:
        """The ``kind:`` value."""
        return self.kind or literal_kind(self.model())

    def model(self) -> type[DriverConfigBase]:
        """The config model, imported on first use; its ``Literal`` must match ``kind``."""
        if not isinstance(self.config, str):
            return self.config
        model = cast(type[DriverConfigBase], load_target(self.config))
        if self.kind and literal_kind(model) != self.kind:
            raise TypeError(f"{self.config} is kind {literal_kind(model)!r}, not {self.kind!r}")
        return model


def literal_kind(model: type[DriverConfigBase]) -> str:
    """The ``kind:`` value a config model accepts, from its ``Literal``."""
    values: tuple[Any, ...] = get_args(model.model_fields["kind"].annotation)
    if len(values) != 1 or not isinstance(values[0], str):
        raise TypeError(f"{model.__name__}.kind must be Literal['<one name>']")
    return str(values[0])


KINDS: tuple[Kind, ...] = (
    Kind(
        kind="modbus",
        config="drivers.modbus.config:ModbusConfig",
        driver="drivers.modbus.driver:ModbusDriver",
        cli="agent.commands.modbus",
        simulator="agent.commands.modbus_simulate",
        extra="modbus",
        check="drivers.modbus.check:check_modbus",
        diag="drivers.modbus.diag:diag_modbus",
    ),
    Kind(
        kind="serial",
        config="drivers.serial.config:SerialConfig",
        driver="drivers.serial.driver:SerialDriver",
        cli="agent.commands.serial",
        simulator="agent.commands.serial_simulate",
        extra="serial",
        diag="drivers.serial.diag:diag_serial",
    ),
    Kind(
        kind="synthetic",
        config="drivers.synthetic.config:SyntheticConfig",
        driver="drivers.synthetic.driver:SyntheticDriver",
    ),
    Kind(
        kind="camera",
        config="vision.config:CameraConfig",
        driver="vision.camera_driver:CameraDriver",
        cli="agent.commands.camera",
        extra="vision",
        check="vision.check:check_camera",
        diag="vision.diag:diag_camera",
    ),
)


class UnknownKindError(LookupError):
    """A config names a kind this build does not have."""


def by_name(kinds: tuple[Kind, ...] = KINDS) -> dict[str, Kind]:
    table: dict[str, Kind] = {}
    for kind in kinds:
        if kind.name in table:
            raise ValueError(f"kind {kind.name!r} is in the kinds table twice")
        table[kind.name] = kind
    return table


def find(name: str, kinds: tuple[Kind, ...] = KINDS) -> Kind:
    table = by_name(kinds)
    try:
        return table[name]
    except KeyError:
        raise UnknownKindError(f"no driver for kind {name!r}; known: {sorted(table)}") from None


def load_target(target: str) -> Any:
    """Import ``"module:attribute"`` and return the attribute."""
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def driver_factory(kind: Kind) -> DriverFactory:
    return cast(DriverFactory, load_target(kind.driver))


def check_hook(kind: Kind) -> KindCheck | None:
    return None if kind.check is None else cast(KindCheck, load_target(kind.check))


def diag_hook(kind: Kind) -> KindDiag | None:
    return None if kind.diag is None else cast("KindDiag", load_target(kind.diag))


def command_modules(kinds: tuple[Kind, ...] = KINDS) -> tuple[str, ...]:
    """The kinds' CLI modules, each once, in table order."""
    return tuple(dict.fromkeys(k.cli for k in kinds if k.cli))


def simulator_modules(kinds: tuple[Kind, ...] = KINDS) -> tuple[str, ...]:
    return tuple(dict.fromkeys(k.simulator for k in kinds if k.simulator))
