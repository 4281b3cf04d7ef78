"""The peer benchmark's measurements, one gateway at a time on a fresh broker.

A ``Segment`` is one gateway started alone against the bench's bus and its own
Mosquitto. Phases, in order: start-up (process start to the first data message),
steady polling (CPU per 1,000 points read, Modbus requests per unit per poll, RSS,
register change -> subscriber latency), one configured unit silent (log lines per poll,
the healthy units' changes delivered), the broker stopped (the outage's changes
delivered afterwards, time to first data after the broker is back), and, where the
gateway buffers, a backlog drained with a SIGKILL halfway (rate before the kill, what
was lost or duplicated). Register changes are the bench's own (bench/peers/sim.py): a
change counts as delivered when a message carrying that unit's new floor arrives after
the write.
"""

from __future__ import annotations

import bisect
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.peers import procs
from bench.peers.gateway import POLL_S, Gateway, Reading, Setup
from bench.peers.sim import UNITS, Bus, Change
from tests.broker import Mosquitto

POINTS_PER_UNIT = 24  # the profile's points, every one read every poll by every gateway


@dataclass(frozen=True)
class Timing:
    """Window lengths; ``--quick`` shortens them."""

    steady_s: float
    silent_s: float
    outage_s: float
    recovery_s: float
    backlog_points: int


def readings(gw: Gateway, msgs: list[tuple[float, str, bytes]]) -> list[tuple[float, Reading]]:
    out = []
    for t, topic, payload in msgs:
        r = gw.read(topic, payload)
        if r is not None and r.points:
            out.append((t, r))
    return out


def delivered(changes: list[Change], seen: list[tuple[float, Reading]]) -> list[float]:
    """Latency of each change that arrived (first message with that unit's new floor)."""
    lat = []
    for c in changes:
        hits = [t for t, r in seen if t >= c.at and (c.unit, c.floor) in r.floors]
        if hits:
            lat.append(min(hits) - c.at)
    return lat


class Segment:
    """One gateway, one broker, one bus: the phases share the running process."""

    def __init__(self, gw: Gateway, bus: Bus, run_dir: Path, tag: str, timing: Timing) -> None:
        self.gw, self.bus, self.timing = gw, bus, timing
        run_dir.mkdir(parents=True)
        # The platform's session (clean_start off, an expiry) and its subscription are kept
        # by the broker across the outage phase's restart, as a production platform's are:
        # otherwise a gateway that reconnects before the bench's subscriber does would
        # hand its backlog to nobody (PUBACK 0x10) and the bench would call that a loss.
        extra = ["allow_anonymous true", "persistence true",
                 f"persistence_location {run_dir}/"]  # fmt: skip
        self.broker = Mosquitto(run_dir, extra=extra)
        self.broker.start()
        self.setup = Setup(run_dir, self.broker.port, bus.port, tag)
        self.platform = procs.Platform(self.broker.port)
        self.config_files = gw.configure(self.setup)
        self.proc = procs.start(gw, self.setup)
        self.t_start = time.monotonic()
        self._next_unit = 0
        self._rng = random.Random(19)
        self._parsed: list[tuple[float, Reading]] = []
        self._parsed_upto = 0

    def close(self) -> None:
        procs.stop(self.proc)
        self.platform.close()
        self.broker.stop()

    def data_since(self, t: float) -> list[tuple[float, Reading]]:
        # Each message is parsed once: re-parsing thousands while a backlog drains took
        # the GIL from the subscriber's thread and slowed its acknowledgements.
        fresh = self.platform.from_index(self._parsed_upto)
        self._parsed_upto += len(fresh)
        self._parsed += readings(self.gw, fresh)
        start = bisect.bisect_left(self._parsed, t, key=lambda item: item[0])
        return self._parsed[start:]

    def changes(
        self, duration: float, every: float, skip: frozenset[int] = frozenset()
    ) -> list[Change]:
        """Move one unit's floor every ``every`` seconds for ``duration``, units in turn."""
        out, end = [], time.monotonic() + duration
        while time.monotonic() < end:
            self._next_unit = self._next_unit % UNITS + 1
            if self._next_unit in skip:
                continue
            out.append(self.bus.change(self._next_unit))
            # Jittered: at a fixed 2 s against a 1 s poll every change fell at the same
            # phase of each gateway's poll cycle, and the latencies measured that phase.
            time.sleep(every * self._rng.uniform(0.5, 1.5))
        return out

    def startup(self) -> dict[str, Any]:
        ok = self.platform.wait(lambda: bool(self.data_since(self.t_start)), timeout=90)
        if not ok:
            raise RuntimeError(f"{self.gw.name}: no data within 90 s; see {self.setup.run_dir}")
        first = self.data_since(self.t_start)[0][0]
        return {"startup_s": round(first - self.t_start, 3)}

    def steady(self) -> dict[str, Any]:
        time.sleep(5.0)  # past start-up: the window covers steady polling only
        req0, cpu0, t0 = self.bus.requests(), procs.cpu_s(self.proc.pid), time.monotonic()
        changes = self.changes(self.timing.steady_s, every=2.0)
        elapsed = time.monotonic() - t0
        cpu = procs.cpu_s(self.proc.pid) - cpu0
        req = self.bus.requests()
        rss = procs.rss_mb(self.proc.pid)
        time.sleep(3.0)  # the last change's message
        lat = delivered(changes, self.data_since(t0))
        polls = elapsed / POLL_S
        points = POINTS_PER_UNIT * UNITS * polls
        requests = sum(req[u] - req0[u] for u in range(1, UNITS + 1))
        return {
            "steady_window_s": round(elapsed, 1),
            "cpu_s_per_1000_points": round(cpu / points * 1000, 4),
            "requests_per_unit_per_poll": round(requests / UNITS / polls, 2),
            "steady_rss_mb": round(rss, 1),
            "latency_median_s": round(statistics.median(lat), 3) if lat else None,
            "latency_p95_s": round(sorted(lat)[int(0.95 * (len(lat) - 1))], 3) if lat else None,
            "steady_changes": f"{len(lat)}/{len(changes)}",
        }

    def silent_unit(self) -> dict[str, Any]:
        """Unit 10 stops answering (configured, powered off): what the log and the
        other nine units see."""
        silent = frozenset({UNITS})
        self.bus.set_silent(set(silent))
        time.sleep(3.0)  # the gateway notices; the window counts the steady state after
        lines0, t0 = procs.log_lines(self.gw, self.setup), time.monotonic()
        changes = self.changes(self.timing.silent_s, every=1.5, skip=silent)
        elapsed = time.monotonic() - t0
        lines = procs.log_lines(self.gw, self.setup) - lines0
        time.sleep(3.0)
        lat = delivered(changes, self.data_since(t0))
        self.bus.set_silent(set())
        time.sleep(3.0)
        return {
            "silent_log_lines_per_poll": round(lines / (elapsed / POLL_S), 2),
            "silent_healthy_delivered": round(len(lat) / len(changes), 2) if changes else None,
            "silent_healthy_changes": f"{len(lat)}/{len(changes)}",
        }

    def outage(self) -> dict[str, Any]:
        """Broker stopped, floors keep changing; after it is back they keep changing (a
        gateway that publishes on change only has nothing else to send)."""
        self.broker.stop()
        changes = self.changes(self.timing.outage_s, every=3.0)
        self.broker.start()
        back = time.monotonic()
        self.platform.back()
        wanted = len(changes)
        deadline = back + self.timing.recovery_s
        while time.monotonic() < deadline:
            seen = self.data_since(back)
            if seen and len(delivered(changes, seen)) >= wanted:
                break
            self.changes(3.0, every=3.0)
        time.sleep(2.0)
        seen = self.data_since(back)
        return {
            "outage_s": self.timing.outage_s,
            "outage_changes_delivered": f"{len(delivered(changes, seen))}/{wanted}",
            "outage_first_data_after_back_s": round(seen[0][0] - back, 2) if seen else None,
        }
