"""A really full disk (a 4 MiB tmpfs) under the real agent, broker down then back.

Reproduces issue 9 item 1: alarms must still be stored while events are shed and
counted, the backlog drains when the broker returns, the agent never exits (no restart
loop), and SIGTERM on the full disk exits cleanly.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.broker import Mosquitto, Subscriber
from tests.spine.agentproc import AgentProcess, synthetic, write_config


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], check=True)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _wait_log(agent: AgentProcess, text: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in agent.log():
            return True
        if not agent.alive():
            return False
        time.sleep(0.1)
    return text in agent.log()


def test_full_disk_keeps_alarms_sheds_events_and_drains_later(
    tmp_path: Path, small_disk: Path
) -> None:
    broker = Mosquitto(tmp_path)  # not started yet: the uplink is down
    cfg = write_config(
        tmp_path / "c.yaml",
        port=broker.port,
        buffer=small_disk / "b.db",
        buffer_extra={"drop_report_interval_s": 0.5},
        # Driver state elsewhere: this test is about the outbox filling its disk.
        extra={"state_dir": str(tmp_path / "state")},
        drivers=[
            synthetic(6000, 400, "event", name="events", payload_bytes=2000),
            synthetic(40, 5, "alarm", name="alarms", payload_bytes=200),
        ],
    )
    agent = AgentProcess(cfg, tmp_path / "agent.log").start()
    sub: Subscriber | None = None
    try:
        assert _wait_log(agent, "disk full", 60), agent.log()
        # Let the alarm driver finish its 40 alarms (8 s) on the full disk.
        assert _wait_log(agent, "driver alarms failing", 0.1) is False, agent.log()
        time.sleep(9)
        broker.start()
        sub = Subscriber(broker.port)
        assert sub.wait(
            lambda s: (
                {
                    e["data"]["n"]
                    for e in s.events()
                    if e["type"] == "synthetic.sample" and e["priority"] == "alarm"
                }
                == set(range(40))
            ),
            90,
        ), agent.log()[-4000:]
        assert sub.wait(lambda s: any(e["type"] == "gateway.buffer.dropped" for e in s.events()))
        assert agent.alive(), agent.log()[-4000:]
        ids = [e["id"] for e in sub.events()]
        assert len(ids) - len(set(ids)) <= 64, "duplicates beyond the in-flight window"
        assert agent.terminate() == 0
        log = agent.log()
        assert "Traceback" not in log and "not stored after shedding" not in log, log[-4000:]
    finally:
        if agent.alive():
            agent.kill()
        if sub is not None:
            sub.close()
        broker.stop()


def test_sigterm_on_a_full_disk_exits_cleanly(tmp_path: Path, small_disk: Path) -> None:
    cfg = write_config(
        tmp_path / "c.yaml",
        port=1,
        buffer=small_disk / "b.db",
        extra={"state_dir": str(tmp_path / "state")},
        drivers=[synthetic(0, 400, "event", name="events", payload_bytes=2000)],
    )
    agent = AgentProcess(cfg, tmp_path / "agent.log").start()
    try:
        assert _wait_log(agent, "disk full", 60), agent.log()
        assert agent.terminate() == 0
        assert "Traceback" not in agent.log(), agent.log()[-4000:]
    finally:
        if agent.alive():
            agent.kill()
