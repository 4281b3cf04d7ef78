"""Per-lift communication loss: a dead bus alarms every lift once, and each comes back.

The real supervisor (agent/supervisor.py) restarts the real driver against the real
pymodbus simulator, which is stopped and started again on the same port, as the
platform would see a TCP monitoring box lose power. Issue 11 finding 2.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from agent.config import HealthConfig
from agent.driver import DriverConfigBase, DriverContext
from agent.supervisor import Supervisor
from drivers.modbus.comm_state import CommStore
from drivers.modbus.config import ModbusConfig
from drivers.modbus.driver import ModbusDriver
from drivers.modbus.profile import load_profile
from drivers.modbus.simulator.scenarios import SCENARIOS
from drivers.modbus.simulator.server import RunningServer, make_devices, start_tcp
from tests.broker import free_port
from tests.modbus.harness import device_entry
from tests.sinks import ListSink

PROFILE = "gb-monitor-box"


def _health(sink: ListSink, state: str | None = None) -> list[tuple[str, str, str]]:
    return [
        (e.subject, e.data["state"], e.data["episode"])
        for e in sink.of_type("elevator.health")
        if state is None or e.data["state"] == state
    ]


async def _serve(port: int | None = None) -> RunningServer:
    # The server is stopped and started again on its port while the driver keeps dialling
    # it, so the port comes from outside the ephemeral range (tests/broker.py:free_port):
    # a kernel-chosen one can be handed to the driver's own connect as its source port.
    devices = make_devices(load_profile(PROFILE), [SCENARIOS["normal"]] * 2, speed=5.0)
    return await start_tcp(devices, port=free_port() if port is None else port)


def _config(port: int, **device: Any) -> ModbusConfig:
    # A 1 s timeout: on a loaded machine a slow reply must not look like a silent lift.
    entries = [
        device_entry(u, PROFILE, 5.0, poll_periods_ms={"fast": 100}, **device) for u in (1, 2)
    ]
    return ModbusConfig.model_validate(
        {
            "name": "lifts", "kind": "modbus", "port": port, "request_timeout_ms": 1000,
            "offline_probe_interval_ms": 300, "devices": entries,
        }
    )  # fmt: skip


@contextlib.asynccontextmanager
async def _supervised(
    config: ModbusConfig, state_dir: Path
) -> AsyncIterator[tuple[ListSink, Supervisor]]:
    """The driver under the real supervisor (fast backoff), as ``edge-agent run`` has it."""
    sink = ListSink()

    def factory(cfg: DriverConfigBase) -> ModbusDriver:
        assert isinstance(cfg, ModbusConfig)
        return ModbusDriver(cfg, DriverContext("gw-test", state_dir))

    health = HealthConfig(restart_base_s=0.1, restart_max_s=0.3, healthy_after_s=1.0)
    sup = Supervisor([config], factory, sink, gateway_id="gw-test", health=health)
    task = asyncio.create_task(sup.run())
    try:
        yield sink, sup
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_dead_bus_alarms_each_lift_once_and_each_comes_back(tmp_path: Path) -> None:
    async def main() -> None:
        server = await _serve()
        port = server.port
        assert port is not None
        config = _config(port)
        async with _supervised(config, tmp_path) as (sink, sup):
            await sink.wait_for("elevator.status", count=4, timeout=20)
            await server.stop()  # the monitoring box loses power: nothing listens
            await _wait(lambda: len(_health(sink, "offline")) == 2, 30)
            # The driver kept failing (positive signal: the supervisor restarted it
            # after the alarms) and no lift was reported twice.
            await sink.wait_for("gateway.health", timeout=20)
            restarts = sup.health["lifts"].restarts
            await _wait(lambda: sup.health["lifts"].restarts >= restarts + 2, 20)
            assert len(_health(sink, "offline")) == 2
            saved = json.loads((tmp_path / "modbus-lifts.comm.json").read_text())
            assert sorted(saved["offline"]) == ["lift-1", "lift-2"]
            assert saved["bus_down_since"] is not None
            server = await _serve(port)
            try:
                await _wait(lambda: len(_health(sink, "online")) == 2, 30)
                # The file is saved after each event: wait for the second save too.
                await _wait(lambda: CommStore(tmp_path, "lifts").load().offline == {}, 10)
            finally:
                await server.stop()
        offline = sink.of_type("elevator.health")[:2]
        assert {e.subject for e in offline} == {"lift-1", "lift-2"}
        for e in offline:
            assert e.priority.label == "alarm" and e.severity.value == "critical"
            assert e.data["reason"] == "bus_unavailable" and e.data["key"] == "COMM_LOST"
        # One offline and one online per lift, paired by episode id.
        for lift in ("lift-1", "lift-2"):
            states = [(s, ep) for subj, s, ep in _health(sink) if subj == lift]
            assert [s for s, _ in states] == ["offline", "online"]
            assert states[0][1] == states[1][1]
        failing = [e for e in sink.of_type("gateway.health") if e.data["state"] == "failing"]
        assert len(failing) == 1 and failing[0].severity.value == "warning"
        assert CommStore(tmp_path, "lifts").load().offline == {}

    asyncio.run(main())


def test_offline_state_survives_a_restart_no_duplicate_and_online_announced(
    tmp_path: Path,
) -> None:
    """Reported offline, driver stopped, started again with the bus still dead, then back."""

    async def main() -> None:
        server = await _serve()
        port = server.port
        assert port is not None
        config = _config(port)
        async with _supervised(config, tmp_path) as (first, _):
            await first.wait_for("elevator.status", count=4, timeout=20)
            await server.stop()
            await _wait(lambda: len(_health(first, "offline")) == 2, 30)
            # Each offline is saved just after its event: stop once both are on disk.
            await _wait(lambda: len(CommStore(tmp_path, "lifts").load().offline) == 2, 10)
        async with _supervised(config, tmp_path) as (second, _):
            # Positive signal: the new driver found the bus dead and gave up.
            await second.wait_for("gateway.health", timeout=20)
            assert _health(second, "offline") == []
            server = await _serve(port)
            try:
                await _wait(lambda: len(_health(second, "online")) == 2, 30)
            finally:
                await server.stop()
        episodes = {s: ep for s, _, ep in _health(first, "offline")}
        assert {s: ep for s, _, ep in _health(second, "online")} == episodes
        assert _health(second, "offline") == []

    asyncio.run(main())


def test_damaged_comm_state_is_ignored(tmp_path: Path) -> None:
    store = CommStore(tmp_path, "lifts")
    store.path.write_text("{broken")
    assert store.load().offline == {}
    store.path.write_text(json.dumps({"version": 1, "offline": {"a": {"episode": 3}, "b": {
        "episode": "e-1", "reason": "timeout"}}, "bus_down_since": "x"}))  # fmt: skip
    state = store.load()
    assert list(state.offline) == ["b"] and state.bus_down_since is None


async def _wait(predicate: object, timeout: float) -> None:
    assert callable(predicate)
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


def test_bus_back_within_the_hold_is_no_alarm(tmp_path: Path) -> None:
    """A box that reboots faster than the hold: no COMM_LOST, polling simply resumes."""

    async def main() -> None:
        server = await _serve()
        port = server.port
        assert port is not None
        config = _config(port, offline_after_polls=6)  # 6 x the 1 s timeout: a 6 s hold
        store = CommStore(tmp_path, "lifts")
        async with _supervised(config, tmp_path) as (sink, sup):
            await sink.wait_for("elevator.status", count=4, timeout=20)
            await server.stop()
            # Positive signal: the driver noticed the dead bus and started the hold.
            await _wait(lambda: store.path.exists() and store.load().bus_down_since, 20)
            server = await _serve(port)
            try:
                seen = len(sink.of_type("elevator.status"))
                await _wait(lambda: len(sink.of_type("elevator.status")) > seen + 4, 30)
            finally:
                await server.stop()
        assert _health(sink) == []
        assert sup.health["lifts"].restarts == 0
        assert store.load().bus_down_since is None

    asyncio.run(main())
