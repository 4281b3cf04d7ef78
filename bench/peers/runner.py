"""``python bench/run.py peers [--quick]``: edge-agent beside ThingsBoard IoT Gateway and
modbus2mqtt on the same bus, poll, registers and broker (issue 19 item 6).

Each gateway is installed into its own throwaway venv (bench/peers/venvs.py), then run
alone, one after the other, in an order rotated every round; each figure is the median
over rounds. The result is printed as JSON (by bench/run.py), kept as
``result.json`` in the bench's work dir, and drawn as a bar chart
(``docs/benchmarks-peers.png``, or ``$EDGE_AGENT_PEERS_PNG``) by bench/peers/chart.py in
a venv of its own with matplotlib.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.peers import backlog, venvs
from bench.peers.gateway import POLL_S, EdgeAgent, Gateway
from bench.peers.m2m import Modbus2Mqtt
from bench.peers.measure import Segment, Timing
from bench.peers.sim import PROFILE, UNITS, Bus
from bench.peers.tb import ThingsBoard
from tests.broker import free_port

REPO = Path(__file__).resolve().parents[2]
QUICK = Timing(steady_s=20, silent_s=12, outage_s=20, recovery_s=45, backlog_points=5_000)
FULL = Timing(steady_s=60, silent_s=30, outage_s=60, recovery_s=90, backlog_points=20_000)


def config_lines(files: list[Path]) -> int:
    return sum(1 for f in files for line in f.read_text().splitlines() if line.strip())


def _segment(gw: Gateway, bus: Bus, run_dir: Path, tag: str, timing: Timing) -> dict[str, Any]:
    seg = Segment(gw, bus, run_dir, tag, timing)
    out: dict[str, Any] = {"config_lines": config_lines(seg.config_files)}
    try:
        out.update(seg.startup())
        out.update(seg.steady())
        out.update(seg.silent_unit())
        out.update(seg.outage())
        if gw.buffer == "outbox":
            out.update(backlog.edge_agent(seg, timing.backlog_points))
        elif gw.buffer == "memory":
            out.update(backlog.thingsboard(seg, timing.backlog_points))
    except Exception as exc:  # a peer failing is a result, not a crash
        out["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        seg.close()
    done, _, of = str(out.get("outage_changes_delivered", "")).partition("/")
    if of:
        out["outage_delivered_fraction"] = round(int(done) / int(of), 2) if int(of) else None
    return out


def _median(values: list[Any]) -> Any:
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if numbers and len(numbers) == len(values):
        return round(statistics.median(numbers), 4)
    return values[-1] if len(set(map(str, values))) == 1 else values


def _combine(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    keys = sorted({k for r in rounds for k in r})
    return {k: _median([r[k] for r in rounds if k in r]) for k in keys}


def _environment(gateways: list[Gateway]) -> dict[str, Any]:
    mosquitto = subprocess.run(["mosquitto", "-h"], capture_output=True, text=True).stdout
    return {
        "python": platform.python_version(),
        "mosquitto": mosquitto.splitlines()[0] if mosquitto else "?",
        "cpus": os.cpu_count(),
        "versions": {g.name: g.version for g in gateways},
        "pymodbus": {g.name: venvs.version(g.python, "pymodbus") for g in gateways},
        "bus": f"{UNITS} x {PROFILE} on one loopback Modbus TCP server, 24 points each",
        "poll_s": POLL_S,
    }


def _chart(result: dict[str, Any], cache: Path) -> str:
    python = venvs.ensure(cache, "chart", ["matplotlib"])
    data = cache / "result.json"
    data.write_text(json.dumps(result, indent=2, sort_keys=True))
    png = Path(os.environ.get("EDGE_AGENT_PEERS_PNG") or REPO / "docs" / "benchmarks-peers.png")
    subprocess.run([str(python), str(Path(__file__).with_name("chart.py")), str(data), str(png)],
                   check=True)  # fmt: skip
    return str(png)


def run(quick: bool) -> dict[str, Any]:
    timing = QUICK if quick else FULL
    # Full runs take ~6 min per gateway and round; EDGE_AGENT_PEERS_ROUNDS trims them.
    rounds = int(os.environ.get("EDGE_AGENT_PEERS_ROUNDS") or (1 if quick else 3))
    cache = venvs.work_dir()
    gateways: list[Gateway] = [EdgeAgent(cache), ThingsBoard(cache), Modbus2Mqtt(cache)]
    for gw in gateways:
        gw.install()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    runs: dict[str, list[dict[str, Any]]] = {g.name: [] for g in gateways}
    bus = Bus(free_port())
    try:
        for i in range(rounds):
            for gw in gateways[i % 3 :] + gateways[: i % 3]:
                run_dir = cache / "runs" / stamp / f"r{i}-{gw.name}"
                runs[gw.name].append(_segment(gw, bus, run_dir, f"r{i}", timing))
    finally:
        bus.close()
    result: dict[str, Any] = {
        "title": f"edge-agent and peers, {UNITS} units, {POLL_S:g} s poll, "
        f"{rounds} round(s), {'quick' if quick else 'full'} ({time.strftime('%Y-%m-%d')})",
        "timing": timing.__dict__,
        "rounds": rounds,
        "order": [g.name for g in gateways],
        "environment": _environment(gateways),
        "gateways": {
            g.name: {"label": g.label, "buffer": g.buffer, **_combine(runs[g.name])}
            for g in gateways
        },
        "per_round": runs,
    }
    result["chart"] = _chart(result, cache)
    return result
