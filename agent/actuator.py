"""The one interface through which the agent writes to a device: named, allow-listed outputs.

A driver that can switch something (a siren's coil, a beacon, a lobby display register)
declares *named outputs* in its own config and offers them through :class:`Actuator`.
Only the names in that config can be written, with the values the config gives, so no
caller (escalation today, the elevator-car e-bike action later) can write an arbitrary
address. The agent's wiring looks the name up with :class:`Actuators` and calls it; one
driver never imports another. Base layer: the standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


class ActuatorError(Exception):
    """The output could not be written now (bus down, device refused); retry later."""


@runtime_checkable
class Actuator(Protocol):
    """Offered by a driver that has outputs declared in its config."""

    def output_names(self) -> tuple[str, ...]:
        """The names declared in the config (the allow-list)."""
        ...

    async def activate(self, name: str) -> None:
        """Write the output's configured ``on`` value; raise ActuatorError on failure."""
        ...


@dataclass
class Actuators:
    """Name → the driver offering it; filled by the wiring as drivers are created."""

    _by_name: dict[str, Actuator] = field(default_factory=dict)

    def offer(self, actuator: Actuator) -> None:
        for name in actuator.output_names():
            self._by_name[name] = actuator  # a re-created driver replaces its old self

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._by_name))

    async def activate(self, name: str) -> None:
        actuator = self._by_name.get(name)
        if actuator is None:
            raise ActuatorError(f"no driver offers an output named {name!r} (not running yet?)")
        await actuator.activate(name)
