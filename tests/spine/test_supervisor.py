"""Supervision: one failing driver never stops the others; health is published on change."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import sys
from typing import Literal

import pytest

from agent.config import HealthConfig
from agent.driver import DriverConfigBase, DriverError, EventSink
from agent.events import Event
from agent.supervisor import Supervisor
from tests.sinks import ListSink


class FakeConfig(DriverConfigBase):
    kind: Literal["fake"] = "fake"
    fail_times: int = 0


class FakeDriver:
    """Our own seam: fails ``fail_times`` times, then ticks forever."""

    starts: dict[str, int] = {}

    def __init__(self, cfg: FakeConfig) -> None:
        self.name = cfg.name
        self.cfg = cfg

    async def run(self, sink: EventSink) -> None:
        n = FakeDriver.starts[self.name] = FakeDriver.starts.get(self.name, 0) + 1
        if n <= self.cfg.fail_times:
            await asyncio.sleep(0.01)
            raise DriverError(f"port /dev/ttyFAKE missing (attempt {n})")
        i = 0
        while True:
            await sink.emit(Event(type="fake.tick", subject=self.name, data={"i": i}))
            i += 1
            await asyncio.sleep(0.01)


def test_failing_driver_is_restarted_and_others_keep_running() -> None:
    async def go() -> ListSink:
        sink = ListSink()
        sup = Supervisor(
            [
                FakeConfig(name="good"),
                FakeConfig(name="flaky", fail_times=3),
                FakeConfig(name="broken", fail_times=10**6),
            ],
            lambda cfg: FakeDriver(cfg),  # type: ignore[arg-type]
            sink,
            gateway_id="gw-t",
            health=HealthConfig(restart_base_s=0.02, restart_max_s=0.1, healthy_after_s=5),
        )
        task = asyncio.create_task(sup.run())

        def settled() -> bool:
            h = sup.health
            return (
                h["good"].state == "running"
                and h["flaky"].state == "running"
                and h["flaky"].restarts == 3
                and h["broken"].state == "failing"
                and h["broken"].restarts > 5
                and len({e.subject for e in sink.of_type("fake.tick")}) == 2
            )

        # Wait for the outcome itself (with a generous bound), not a fixed time.
        async with asyncio.timeout(30):
            while not settled():
                await asyncio.sleep(0.01)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert sup.health["good"].state == "running"
        assert sup.health["flaky"].state == "running" and sup.health["flaky"].restarts == 3
        assert sup.health["broken"].state == "failing" and sup.health["broken"].restarts > 5
        return sink

    sink = asyncio.run(go())
    ticks = {e.subject for e in sink.of_type("fake.tick")}
    assert ticks == {"good", "flaky"}
    health = [(e.data["driver"], e.data["state"]) for e in sink.of_type("gateway.health")]
    # Transitions only: broken failed many times but is reported once.
    assert health.count(("broken", "failing")) == 1
    assert ("flaky", "failing") in health and ("flaky", "running") in health
    assert health.index(("flaky", "failing")) < health.index(("flaky", "running"))
    src = {e.source for e in sink.of_type("fake.tick")}
    assert src == {"/edge/gw-t/drivers/good", "/edge/gw-t/drivers/flaky"}


def test_registry_matches_config_union_and_every_entry_imports() -> None:
    from agent.config import known_kinds
    from agent.registry import DRIVERS, load_driver_class

    assert sorted(DRIVERS) == known_kinds()
    for kind in DRIVERS:
        cls = load_driver_class(kind)
        assert callable(getattr(cls, "run", None))


def test_modbus_only_gateway_never_imports_opencv_or_onnxruntime(tmp_path) -> None:  # type: ignore[no-untyped-def]
    code = (
        "import sys\n"
        "from agent.config import parse_config\n"
        "from agent.registry import create_driver\n"
        "from agent.driver import DriverContext\n"
        "from pathlib import Path\n"
        "cfg = parse_config('gateway: {id: g}\\nmqtt: {host: 127.0.0.1, insecure: true}\\n"
        "buffer: {path: /tmp/x.db}\\ndrivers: [{name: s, kind: synthetic}]\\n')\n"
        "import agent.app, agent.cli\n"
        "for d in cfg.drivers: create_driver(d, DriverContext('g', Path('/tmp')))\n"
        "bad = [m for m in ('cv2', 'onnxruntime') if m in sys.modules]\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_restart_line_repeats_the_reason_and_recovery_drops_the_old_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 14 item 7: the restart line says why; the recovered health event is clean."""

    async def go() -> tuple[ListSink, Supervisor]:
        sink = ListSink()
        sup = Supervisor(
            [FakeConfig(name="flaky2", fail_times=2)],
            lambda cfg: FakeDriver(cfg),  # type: ignore[arg-type]
            sink,
            gateway_id="gw-t",
            health=HealthConfig(restart_base_s=0.02, restart_max_s=0.05, healthy_after_s=5),
        )
        task = asyncio.create_task(sup.run())
        async with asyncio.timeout(30):
            while not [e for e in sink.of_type("gateway.health") if e.data["state"] == "running"]:
                await asyncio.sleep(0.01)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return sink, sup

    with caplog.at_level(logging.INFO, logger="agent.supervisor"):
        sink, sup = asyncio.run(go())
    lines = [r.getMessage() for r in caplog.records if r.name == "agent.supervisor"]
    assert "driver flaky2 (fake) starting" in lines
    assert (
        "driver flaky2 (fake) restarting (restart 1) after: port /dev/ttyFAKE missing (attempt 1)"
        in lines
    )
    health = [e.data for e in sink.of_type("gateway.health")]
    assert health[0]["state"] == "failing" and "ttyFAKE" in health[0]["error"]
    assert health[-1]["state"] == "running" and health[-1]["error"] is None
    assert sup.health["flaky2"].last_error is None
