"""Network faults between the real agent and a real Mosquitto, through faultproxy.py.

anchors-reliability.md §6.2. For each mode the agent dials the proxy, a platform
subscriber sits on the broker directly; pass: every produced event arrives (zero loss),
the agent never exits, and for the faults that break connections the agent reconnects
through the proxy. Then the broker itself is frozen with SIGSTOP for ``FREEZE_S``
seconds (30 by default; ``RELIABILITY_FREEZE_S`` changes it) and resumed.

Besides zero loss, every run asserts from the agent's own bookkeeping, logged at its
shutdown: no event-loop stall over 250 ms (agent/looplag.py); every publish attempt
ended, none later after its deadline than that stall threshold, and under the blackhole
and the freeze the PUBACK that never came ended its attempt at the deadline
(agent/publish_deadline.py); memory bounded: at most ``inflight`` attempts on the wire,
at most the pump's hand-over plus one batch of rows held, and the agent's RSS, sampled
during the fault, within a bound derived from those.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.broker import Mosquitto, Subscriber
from tests.reliability.faultproxy import FaultProxy, Faults
from tests.reliability.figures import loop_lag, publish_attempts, record, rss_kib
from tests.spine.agentproc import AgentProcess, synthetic, write_config

COUNT = 600
FREEZE_S = float(os.environ.get("RELIABILITY_FREEZE_S", "30"))
INFLIGHT = 64  # mqtt.inflight, the default
BATCH = 512  # mqtt.batch, the default
# The forwarder hands the publisher 16 windows and reads one batch more when that drains.
HELD_MAX = 16 * INFLIGHT + BATCH
# RSS growth allowed during a fault: every held row at 8 KiB (a 200-byte payload is
# ~0.6 KiB as a row; with its dict entry, paho's packet and socket buffer well under 8),
# plus 16 MiB for the allocator's arenas and paho's buffers.
RSS_GROWTH_MAX_KIB = HELD_MAX * 8 + 16 * 1024
STALL_MS = 250  # agent/looplag.py stall_s
DEADLINE_WORDS = "the broker stopped answering (no PUBACK in time)"  # agent/uplink.py


class _Rss:
    """The agent's RSS, sampled whenever a wait polls; the first sample is the baseline."""

    def __init__(self, agent: AgentProcess) -> None:
        assert agent.proc is not None
        self.pid = agent.proc.pid
        self.samples: list[int] = []

    def sample(self) -> None:
        self.samples.append(rss_kib(self.pid))

    def figures(self) -> dict[str, int]:
        base = self.samples[0]
        return {
            "rss_base_kib": base,
            "rss_peak_kib": max(self.samples),
            "rss_growth_kib": max(self.samples) - base,
            "rss_samples": len(self.samples),
        }


def _figures(agent_log: str, rss: _Rss) -> dict[str, float]:
    """The agent's own shutdown summaries (loop lag, publish attempts) and the RSS samples."""
    lag, att = loop_lag(agent_log), publish_attempts(agent_log)
    return {**lag, **att, **rss.figures(), "rss_growth_max_kib": RSS_GROWTH_MAX_KIB}


def _check(name: str, f: dict[str, float], agent_log: str, *, deadline_met: bool) -> None:
    """The pass criteria beyond zero loss (after the figures are recorded, so a failed
    run still reports them); ``deadline_met``: the fault leaves a PUBLISH unanswered."""
    assert f["attempts_open"] == 0, f"{name}: attempts never ended: {f}"
    assert f["attempt_late_max_ms"] <= STALL_MS, f"{name}: an attempt outlived its deadline"
    assert f["wire_peak"] <= INFLIGHT and f["held_peak"] <= HELD_MAX, f"{name}: {f}"
    assert f["rss_growth_kib"] <= RSS_GROWTH_MAX_KIB, f"{name}: {f}"
    if deadline_met:
        assert f["attempts_expired"] >= 1, f"{name}: the unanswered PUBLISH met no deadline"
        assert DEADLINE_WORDS in agent_log, f"{name}: the uplink's log does not say why"
    assert f["loop_stalls"] == 0, f"{name}: event loop stalled (max {f['loop_lag_max_ms']} ms)"


def _distinct(sub: Subscriber) -> tuple[set[int], int]:
    samples = [e for e in sub.events() if e["type"] == "synthetic.sample"]
    return {e["data"]["n"] for e in samples}, len(samples)


def _mqtt(port: int) -> dict[str, object]:
    return {
        "host": "127.0.0.1",
        "port": port,
        "insecure": True,
        "reconnect_max_s": 2.0,
        "timeout_s": 5.0,
    }


MODES = {
    "latency": Faults(mode="latency", latency_s=0.05, jitter_s=0.04),
    "slice": Faults(mode="slice"),
    "bandwidth": Faults(mode="bandwidth", bytes_per_s=40_000),
    "reset": Faults(mode="reset", resets=6),
    "blackhole": Faults(mode="blackhole", after_bytes=30_000, hole_s=8.0),
}


@pytest.mark.parametrize("mode", list(MODES))
def test_each_network_fault_loses_nothing(tmp_path: Path, broker: Mosquitto, mode: str) -> None:
    proxy = FaultProxy(broker.port, MODES[mode]).start()
    sub = Subscriber(broker.port)
    cfg = write_config(
        tmp_path / "c.yaml",
        port=proxy.port,
        buffer=tmp_path / "b.db",
        mqtt=_mqtt(proxy.port),
        drivers=[synthetic(COUNT, 100, payload_bytes=200)],
    )
    agent = AgentProcess(cfg, tmp_path / "agent.log").start()
    rss = _Rss(agent)
    started = time.monotonic()
    try:
        assert sub.wait(lambda s: bool(_distinct(s)[0]), 60), agent.log()
        rss.sample()  # the baseline: up, connected, forwarding

        def done(s: Subscriber) -> bool:
            rss.sample()
            return _distinct(s)[0] == set(range(COUNT))

        assert sub.wait(done, 150), (
            f"{mode}: missing {sorted(set(range(COUNT)) - _distinct(sub)[0])[:10]}\n{agent.log()}"
        )
        took = time.monotonic() - started
        assert agent.alive()
        c = proxy.counters
        if mode == "reset":
            assert c.resets_done == MODES[mode].resets and c.connections > c.resets_done
        if mode == "blackhole":
            assert c.hole_started is not None and c.dropped_in_hole > 0
            assert c.connections >= 2, "the agent never gave up on the dead connection"
        assert agent.terminate() == 0
    finally:
        if agent.alive():
            agent.kill()
        sub.close()
        proxy.stop()
    ns, deliveries = _distinct(sub)
    checked = _figures(agent.log(), rss)
    record(
        f"network_{mode}",
        **checked,
        produced=COUNT,
        delivered_distinct=len(ns),
        duplicates=deliveries - len(ns),
        lost=COUNT - len(ns),
        connections=c.connections,
        resets=c.resets_done,
        bytes_dropped_in_hole=c.dropped_in_hole,
        seconds_to_complete=round(took, 1),
    )
    _check(mode, checked, agent.log(), deadline_met=mode == "blackhole")


def test_broker_frozen_then_resumed_loses_nothing(tmp_path: Path) -> None:
    count = 1500
    broker = Mosquitto(tmp_path).start()  # a deep queue to the subscriber: tests/broker.py
    sub = Subscriber(broker.port)
    cfg = write_config(
        tmp_path / "c.yaml",
        port=broker.port,
        buffer=tmp_path / "b.db",
        drivers=[synthetic(count, 50)],
    )
    agent = AgentProcess(cfg, tmp_path / "agent.log").start()
    rss = _Rss(agent)
    assert broker.proc is not None
    try:
        assert sub.wait(lambda s: len(_distinct(s)[0]) >= 100, 30), agent.log()
        rss.sample()
        broker.proc.send_signal(signal.SIGSTOP)
        frozen_at = time.monotonic()
        try:
            # Hold the freeze for FREEZE_S while checking the agent stays up meanwhile.
            while time.monotonic() - frozen_at < FREEZE_S:
                assert agent.alive(), agent.log()
                rss.sample()
                time.sleep(0.5)
        finally:
            broker.proc.send_signal(signal.SIGCONT)
        assert sub.wait(lambda s: _distinct(s)[0] == set(range(count)), 120), agent.log()
        noticed = "broker unresponsive" in agent.log() or "is down" in agent.log()
        assert agent.terminate() == 0
    finally:
        if agent.alive():
            agent.kill()
        sub.close()
        broker.stop()
    ns, deliveries = _distinct(sub)
    checked = _figures(agent.log(), rss)
    record(
        "broker_sigstop",
        **checked,
        freeze_s=FREEZE_S,
        produced=count,
        delivered_distinct=len(ns),
        duplicates=deliveries - len(ns),
        lost=count - len(ns),
        agent_logged_the_hang=noticed,
    )
    _check("sigstop", checked, agent.log(), deadline_met=True)
