"""The spine end to end: real agent process, real Mosquitto, real subscriber."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

from tests.broker import Mosquitto, Subscriber
from tests.spine.agentproc import AgentProcess, synthetic, wait_for, write_config


def samples(sub: Subscriber) -> list[dict]:
    return [e for e in sub.events() if e["type"] == "synthetic.sample"]


def distinct_n(sub: Subscriber) -> set[int]:
    return {e["data"]["n"] for e in samples(sub)}


def synthetic_next(state_dir: Path, name: str = "synth") -> int:
    """The next number the synthetic driver will emit (its durable state file)."""
    try:
        return int((state_dir / f"synthetic-{name}.next").read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def assert_seq_complete(sub: Subscriber) -> None:
    seqs = {e["seq"] for e in sub.events()}
    assert seqs == set(range(1, max(seqs) + 1)), "gap in seq"


def test_5000_events_reach_the_platform_once_each(tmp_path: Path, broker: Mosquitto) -> None:
    sub = Subscriber(broker.port)
    cfg = write_config(
        tmp_path / "c.yaml",
        port=broker.port,
        buffer=tmp_path / "b.db",
        drivers=[synthetic(5000, 500)],
    )
    agent = AgentProcess(cfg, tmp_path / "agent.log").start()
    try:
        assert sub.wait(lambda s: len(samples(s)) >= 5000, 90), agent.log()
        status = [json.loads(p) for p in sub.on_topic("edge/gw-0001/status")]
        assert status[-1]["state"] == "online" and "config_sha256" in status[-1]
        start = time.monotonic()
        assert agent.terminate() == 0
        assert time.monotonic() - start < 10
        # "offline" is published after the last event: everything sent has now arrived.
        assert sub.wait(lambda s: json.loads(s.on_topic("/status")[-1])["state"] == "offline", 5)
        events = samples(sub)
        assert len({e["id"] for e in events}) == 5000
        assert distinct_n(sub) == set(range(5000))
        assert_seq_complete(sub)
        first = events[0]
        for key in (
            "specversion",
            "id",
            "source",
            "type",
            "time",
            "subject",
            "datacontenttype",
            "data",
            "seq",
            "severity",
            "priority",
            "clocksync",
        ):
            assert key in first
        assert first["specversion"] == "1.0"
        assert first["source"] == "/edge/gw-0001/drivers/synth"
        assert first["time"].endswith("Z")
    finally:
        if agent.alive():
            agent.kill()
        sub.close()


def test_broker_down_20s_then_everything_arrives(tmp_path: Path, broker: Mosquitto) -> None:
    sub = Subscriber(broker.port)
    cfg = write_config(
        tmp_path / "c.yaml",
        port=broker.port,
        buffer=tmp_path / "b.db",
        drivers=[synthetic(3000, 100)],
    )
    agent = AgentProcess(cfg, tmp_path / "agent.log").start()
    try:
        assert sub.wait(lambda s: len(samples(s)) >= 300, 30), agent.log()
        sub.close()
        broker.stop()
        # The outage lasts while the driver makes ~2000 more events (about 20 s); waiting
        # for that progress, not a fixed sleep, proves the agent kept working meanwhile.
        assert wait_for(lambda: "is down" in agent.log(), 30), agent.log()
        assert wait_for(lambda: synthetic_next(tmp_path) >= 2300, 60), agent.log()
        assert agent.alive(), "agent died while the broker was down"
        broker.start()
        sub = Subscriber(broker.port, client_id="platform-2")
        assert sub.wait(lambda s: max(distinct_n(s) | {0}) >= 2999, 90), agent.log()
        # What the first subscriber saw before the outage plus what arrives now covers all;
        # the agent never crash-looped (one process, still alive).
        assert agent.alive()
        assert agent.log().count(" running as gw-0001 ") == 1  # one start of the agent
        assert agent.log().count("driver synth (synthetic) starting") == 1  # no restart
        assert "Traceback" not in agent.log()
    finally:
        if agent.alive():
            agent.kill()
        sub.close()


def test_sigkill_at_random_points_loses_nothing(tmp_path: Path, broker: Mosquitto) -> None:
    sub = Subscriber(broker.port)
    count = 4000
    cfg = write_config(
        tmp_path / "c.yaml",
        port=broker.port,
        buffer=tmp_path / "b.db",
        drivers=[
            {
                "name": "synth",
                "kind": "synthetic",
                "count": count,
                "rate_hz": 400,
                "priority": "event",
            }
        ],
    )
    rng = random.Random(1234)
    kills = 0
    try:
        while kills < 12:
            agent = AgentProcess(cfg, tmp_path / "agent.log").start()
            time.sleep(rng.uniform(0.8, 2.5))
            agent.kill()
            kills += 1
        # A process killed before it got going logs no "running as": count from here.
        started = agent.log().count(" running as gw-0001 ")
        agent = AgentProcess(cfg, tmp_path / "agent.log").start()
        assert sub.wait(lambda s: distinct_n(s) == set(range(count)), 120), (
            f"missing {sorted(set(range(count)) - distinct_n(sub))[:20]}"
        )
        # The last process is up (its start logged) before it is asked to stop.
        assert wait_for(lambda: agent.log().count(" running as gw-0001 ") == started + 1, 30)
        assert agent.terminate() == 0
        # "offline" follows the last publish: nothing more is on its way.
        assert sub.wait(lambda s: json.loads(s.on_topic("/status")[-1])["state"] == "offline", 10)
        events = samples(sub)
        # Duplicates are allowed but a repeated id always carries the same event.
        by_id: dict[str, dict] = {}
        for e in events:
            assert by_id.setdefault(e["id"], e) == e
        assert_seq_complete(sub)
    finally:
        if agent.alive():
            agent.kill()
        sub.close()


def test_hung_broker_then_resume_loses_nothing(tmp_path: Path, broker: Mosquitto) -> None:
    """SIGSTOP the broker mid-stream (a hang, not a crash), then SIGCONT."""
    import signal

    sub = Subscriber(broker.port)
    cfg = write_config(
        tmp_path / "c.yaml",
        port=broker.port,
        buffer=tmp_path / "b.db",
        drivers=[synthetic(1500, 100)],
    )
    agent = AgentProcess(cfg, tmp_path / "agent.log").start()
    try:
        assert sub.wait(lambda s: len(samples(s)) >= 200, 30), agent.log()
        assert broker.proc is not None
        broker.proc.send_signal(signal.SIGSTOP)
        # Positive signal: the agent noticed the frozen broker (keepalive/publish timeout).
        assert wait_for(
            lambda: "broker unresponsive" in agent.log() or "is down" in agent.log(), 60
        ), agent.log()
        assert agent.alive()
        broker.proc.send_signal(signal.SIGCONT)
        assert sub.wait(lambda s: distinct_n(s) == set(range(1500)), 90), agent.log()
        assert "broker unresponsive" in agent.log() or "is down" in agent.log()
        assert agent.terminate() == 0
    finally:
        if agent.alive():
            agent.kill()
        sub.close()
