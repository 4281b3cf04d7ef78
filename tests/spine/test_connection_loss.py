"""Lost connections leave nothing behind: no "Future exception was never retrieved"."""

from __future__ import annotations

import time
from pathlib import Path

from tests.broker import Mosquitto, Subscriber
from tests.spine.agentproc import AgentProcess, synthetic, write_config


def _wait_for(predicate, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return bool(predicate())


def test_broker_kills_leave_no_unretrieved_futures(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path).start()
    cfg = write_config(
        tmp_path / "c.yaml", port=broker.port, buffer=tmp_path / "b.db", drivers=[synthetic(0, 50)]
    )
    agent = AgentProcess(cfg, tmp_path / "agent.log").start()
    try:
        for n in range(1, 4):
            assert _wait_for(lambda n=n: agent.log().count("is up") >= n), agent.log()
            assert broker.proc is not None
            broker.proc.kill()
            broker.proc.wait()
            broker.proc = None
            assert _wait_for(lambda n=n: agent.log().count("is down") >= n), agent.log()
            broker.start()
        assert _wait_for(lambda: agent.log().count("is up") >= 4), agent.log()
        sub = Subscriber(broker.port)
        try:  # still forwarding after the kills
            assert sub.wait(lambda s: any(e["type"] == "synthetic.sample" for e in s.events()))
        finally:
            sub.close()
        assert agent.terminate() == 0
        assert "never retrieved" not in agent.log(), agent.log()[-3000:]
    finally:
        if agent.alive():
            agent.kill()
        broker.stop()
