"""A restart in the middle of a fault: no second raise, and no clear lost.

The driver is stopped (cancelled, as the supervisor or a SIGTERM does) while an
entrapment is raised, and a new driver instance is started on the same state directory
against the same running simulator.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from drivers.modbus.episode_store import EpisodeStore
from tests.modbus.harness import device_entry, running_driver, simulated_bus, wait_until
from tests.sinks import ListSink

SPEED = 10.0  # hold 45 s -> 4.5 s; the car stays stuck 9 s: room to restart mid-episode


def _faults(sink: ListSink) -> list[tuple[str, str, str]]:
    return [
        (e.data["key"], e.data["state"], e.data["episode"])
        for e in sink.events
        if e.type == "elevator.alarm" and e.subject == "lift-1"
    ]


def _raised(sink: ListSink) -> bool:
    return any(state == "raised" for _, state, _ in _faults(sink))


def test_entrapment_still_present_after_restart_is_continued(tmp_path: Path) -> None:
    async def main() -> None:
        async with simulated_bus("gb-monitor-box", ["entrapment-level"], speed=SPEED) as bus:
            config = bus.bus_config([device_entry(1, "gb-monitor-box", SPEED)])
            state = tmp_path / "modbus-lifts.episodes.json"
            async with running_driver(config, tmp_path) as (_, first):
                await wait_until(lambda: _raised(first), timeout=30)
                # Saved just after the event is stored: stop once it is on disk.
                await wait_until(state.exists, timeout=10)
            saved = json.loads((tmp_path / "modbus-lifts.episodes.json").read_text())
            assert [e["key"] for e in saved["devices"]["lift-1"]] == ["ENTRAP_LEVEL"]
            async with running_driver(config, tmp_path) as (driver, second):
                await wait_until(lambda: bus.devices[0].model.finished, timeout=30)
                await wait_until(lambda: bool(_faults(second)), timeout=5)
                await asyncio.sleep(0.3)
                assert driver.devices["lift-1"].open_episodes() == []
        ((key, state, episode),) = _faults(first)
        assert (key, state) == ("ENTRAP_LEVEL", "raised")
        # The new instance never raised it again; it cleared the same episode.
        assert _faults(second) == [("ENTRAP_LEVEL", "cleared", episode)]
        assert EpisodeStore(tmp_path, "lifts").load() == {}

    asyncio.run(main())


def test_fault_that_ended_while_down_is_cleared_on_start(tmp_path: Path) -> None:
    async def main() -> None:
        async with simulated_bus("gb-monitor-box", ["entrapment-level"], speed=SPEED) as bus:
            config = bus.bus_config([device_entry(1, "gb-monitor-box", SPEED)])
            async with running_driver(config, tmp_path) as (_, first):
                await wait_until(lambda: _raised(first), timeout=30)
            # The passenger is freed while no driver is running (the simulated car moves
            # on in its own time; nobody reads it meanwhile).
            device = bus.devices[0]

            def freed() -> bool:
                device.model.advance_to(device.sim_time())
                return device.model.finished

            await wait_until(freed, timeout=30)
            async with running_driver(config, tmp_path) as (_, second):
                await wait_until(lambda: bool(_faults(second)), timeout=10)
                await asyncio.sleep(0.3)
        ((_, _, episode),) = _faults(first)
        assert _faults(second) == [("ENTRAP_LEVEL", "cleared", episode)]

    asyncio.run(main())


def test_damaged_state_file_is_ignored_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "modbus-lifts.episodes.json").write_text("{not json")
    assert EpisodeStore(tmp_path, "lifts").load() == {}
    (tmp_path / "modbus-lifts.episodes.json").write_text(
        json.dumps(
            {
                "version": 1,
                "devices": {
                    "lift-1": [
                        {"key": "NO_SUCH_KEY", "episode": "x", "source": "derived"},
                        {"key": "ENTRAP_LEVEL", "episode": "e-1", "source": "derived"},
                    ]
                },
            }
        )
    )
    (episode,) = EpisodeStore(tmp_path, "lifts").load()["lift-1"]
    assert (episode.key, episode.episode) == ("ENTRAP_LEVEL", "e-1")
