"""The contract between the agent and every data source (Modbus, serial, camera, synthetic).

A driver is constructed from its typed config and a :class:`DriverContext`, then ``run`` is
awaited by the supervisor. ``run`` emits events through the sink until it is cancelled.
It holds no retry loop of its own: when its device or port is unusable it raises
(:class:`DriverError` for expected failures, which are logged without a traceback) and the
supervisor restarts it with jittered backoff. Cleanup belongs in ``finally`` blocks, and
``asyncio.CancelledError`` must always propagate.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from agent.events import Event

T = TypeVar("T")


class DriverError(Exception):
    """An expected, explainable failure (port missing, device refused, stream ended)."""


class EventSink(Protocol):
    """Where drivers put events. ``emit`` returns only once the event is durable on disk."""

    async def emit(self, event: Event) -> None: ...


@dataclass
class SharedResources:
    """Objects several drivers share, created on first use (e.g. one inference worker).

    Owned by the agent: whatever has a ``close()`` is closed when the agent stops.
    """

    _items: dict[str, Any] = field(default_factory=dict)
    # Factories can be slow (loading a model) and run in worker threads, off the loop.
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get_or_create(self, key: str, factory: Callable[[], T]) -> T:
        """The shared item for ``key``, created once; safe to call from any thread."""
        with self._lock:
            if key not in self._items:
                self._items[key] = factory()
            item: T = self._items[key]
            return item

    def close_all(self) -> None:
        for item in reversed(list(self._items.values())):
            close = getattr(item, "close", None)
            if callable(close):
                close()
        self._items.clear()


@dataclass
class DriverContext:
    """What the agent hands a driver besides its own config."""

    gateway_id: str
    state_dir: Path
    shared: SharedResources = field(default_factory=SharedResources)


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors and values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class DriverConfigBase(StrictModel):
    """Keys every driver entry has. Each kind subclasses it with ``kind: Literal[...]``."""

    name: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
        description="Unique driver name; appears in event sources, logs and task names.",
    )
    enabled: bool = Field(default=True, description="Set false to keep an entry but not run it.")


@runtime_checkable
class Driver(Protocol):
    """A source of events, run and restarted by the supervisor."""

    name: str

    async def run(self, sink: EventSink) -> None:
        """Produce events into ``sink`` until cancelled; raise on failure."""
        ...


class DriverFactory(Protocol):
    """How a kind's driver is built: ``DriverClass(config, context)``.

    Every driver class satisfies this by having exactly that constructor; the kinds table
    (agent/kinds.py) loads the class lazily and the registry calls it through this type.
    """

    def __call__(self, config: Any, context: DriverContext, /) -> Driver: ...


@dataclass(frozen=True)
class CheckContext:
    """What a kind's start-up check may look at besides its own config entry."""

    state_dir: Path
    # Relative paths in the config (model files, profile files) resolve against this.
    cwd: Path = field(default_factory=Path.cwd)


@dataclass(frozen=True)
class ConfigProblem:
    """One thing a kind's check found, at ``path`` relative to its driver entry.

    ``path`` is the key path inside the entry, e.g. ``("devices", 0, "profile")``; the
    agent prefixes ``drivers[i]`` and turns it into a ``FILE:LINE key.path`` line.
    """

    path: tuple[str | int, ...]
    message: str


class KindCheck(Protocol):
    """A kind's start-up check: every problem a file or registry lookup finds."""

    def __call__(self, config: Any, context: CheckContext, /) -> list[ConfigProblem]: ...
