"""The live status (agent/status.py): written on change only, atomically, 0640; read back."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from agent.status import (
    DeviceBoard,
    StatusSnapshot,
    StatusWriter,
    live_status,
    read_status,
)
from tests.broker import Mosquitto
from tests.spine.agentproc import AgentProcess, synthetic, wait_for, write_config


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_written_on_change_at_most_every_interval_and_never_when_unchanged(
    tmp_path: Path,
) -> None:
    clock = Clock()
    writer = StatusWriter(tmp_path / "status.json", min_interval_s=1.0, clock=clock)
    snap = StatusSnapshot(gateway_id="gw-1", started_at=1.0)
    assert writer.offer(snap)
    assert stat.S_IMODE(os.stat(writer.path).st_mode) == 0o640
    changed = snap.model_copy(deep=True)
    changed.backlog.pending = 3
    clock.t += 0.2
    assert not writer.offer(changed)  # too soon after the last write
    clock.t += 1.0
    assert writer.offer(changed)
    clock.t += 5
    # updated_at changes by itself; the content does not: nothing written.
    assert not writer.offer(changed.model_copy(update={"updated_at": 12345.0}))
    assert writer.writes == 2
    back = read_status(writer.path)
    assert back is not None and back.backlog.pending == 3 and back.gateway_id == "gw-1"


def test_live_only_while_the_writer_runs(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    assert live_status(path) is None
    StatusWriter(path).offer(StatusSnapshot(gateway_id="gw-1"))
    assert live_status(path) is not None  # our own pid
    assert live_status(path, pid_alive=lambda _pid: False) is None
    StatusWriter(path).offer(StatusSnapshot(gateway_id="gw-1", running=False))
    assert live_status(path) is None
    path.write_text("{not json")
    assert read_status(path) is None


def test_device_board_keeps_state_and_details_per_device() -> None:
    board = DeviceBoard()
    board.report("lifts", "car-1", "offline", reason="no answer from unit 3")
    board.seen("lifts", "car-2", when=50.04, rtt_ms=12.5)
    board.detail("lifts", "car-2", bad_frames=2)
    devices = {d.device: d for d in board.snapshot()}
    assert devices["car-1"].state == "offline" and devices["car-1"].reason
    assert devices["car-2"].last_seen == 50.0
    assert devices["car-2"].details == {"rtt_ms": 12.5, "bad_frames": 2}


def test_running_agent_publishes_its_status_and_says_when_it_stopped(
    tmp_path: Path, broker: Mosquitto
) -> None:
    cfg = write_config(
        tmp_path / "c.yaml",
        port=broker.port,
        buffer=tmp_path / "b.db",
        drivers=[synthetic(20, 50)],
    )
    path = tmp_path / "status.json"
    agent = AgentProcess(cfg, tmp_path / "agent.log").start()
    try:

        def delivered() -> bool:
            s = live_status(path)
            return bool(s and s.uplink.state == "up" and s.drivers and s.drivers[0].last_seen)

        assert wait_for(delivered, 30), agent.log()
        live = live_status(path)
        assert live is not None and live.uplink.broker == f"127.0.0.1:{broker.port}"
        assert live.drivers[0].name == "synth" and live.drivers[0].kind == "synthetic"
        # No health: section: the readings still reach the status (no events, though).
        assert wait_for(lambda: bool((s := live_status(path)) and s.health.disk_free_bytes), 30)
    finally:
        assert agent.terminate() == 0
    final = read_status(path)
    assert final is not None and not final.running
    assert live_status(path) is None
