"""A throwaway device kind, added the way docs/adding-a-kind.md says: its own package
plus one :class:`agent.kinds.Kind` entry (made in tests/spine/test_kinds.py)."""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import Field

from agent.driver import CheckContext, ConfigProblem, DriverConfigBase, DriverContext, EventSink
from agent.events import Event


class DummyConfig(DriverConfigBase):
    kind: Literal["dummy"]
    ticks: int = Field(default=3, ge=1)
    label: str = "ok"


class DummyDriver:
    def __init__(self, config: DummyConfig, context: DriverContext) -> None:
        self.name = config.name
        self._config = config

    async def run(self, sink: EventSink) -> None:
        for i in range(self._config.ticks):
            await sink.emit(Event(type="dummy.tick", subject=self.name, data={"i": i}))
        await asyncio.Event().wait()


def check_dummy(config: DummyConfig, context: CheckContext) -> list[ConfigProblem]:
    if config.label == "bad":
        return [ConfigProblem(("label",), "label 'bad' is refused by the dummy kind")]
    return []
