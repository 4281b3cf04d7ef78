"""What the local web console costs (issue 15): CPU idle, memory, and the Gateway page load.

Figures, all from one run on this machine:

* ``cpu_pct_console`` / ``cpu_pct_plain``: user+system CPU (percent of one core) of two
  agents running side by side over the same ``duration_s`` window, with the same drivers
  (two ``gb-monitor-box`` cars on one ``simulate elevator`` process and a 5 Hz synthetic
  driver) and the same Mosquitto; one has ``console:`` configured and no browser connected,
  the other has no console. ``cpu_pct_diff`` is the difference (target <= 1 point).
* ``rss_mb_console`` / ``rss_mb_plain`` and ``console_rss_mb``: their RSS at the end of the
  window and the difference, i.e. the memory the console adds (aiohttp, the pages' tap).
* ``import_rss_mb``: RSS added by importing ``agent.console.server`` in a fresh interpreter
  that already imported the agent.
* ``gateway_load_ms_*``: the Gateway page in Debian's headless Chromium (Playwright), from
  navigation start to the page's data drawn (``window.__loadedAt``), median and max of
  ``loads`` loads after one warm-up; ``gateway_goto_ms_median`` is the whole
  ``page.goto`` + wait as the test sees it.
* ``cpu_pct_console_browser``: the console agent's CPU over a second window with the
  Gateway page open (live updates flowing), for comparison.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import footprint_configs as fc
from tests.broker import Mosquitto
from tests.console.stack import PASSWORD, start_console_agent, start_elevator_simulator
from tests.spine.agentproc import AgentProcess, synthetic, write_config

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _drivers(sim_port: int) -> list[dict[str, Any]]:
    lift = {"profile": "gb-monitor-box", "poll_periods_ms": {"fast": 200}}
    return [
        {"name": "lifts", "kind": "modbus", "port": sim_port,
         "devices": [{"id": "lift-a", "unit_id": 1, **lift},
                     {"id": "lift-b", "unit_id": 2, **lift}]},
        synthetic(0, 5),
    ]  # fmt: skip


def _import_rss() -> float:
    code = (
        "import agent.app, agent.cli\n"
        "def rss():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmRSS'): return int(line.split()[1]) / 1024\n"
        "a = rss(); import agent.console.server; print(rss() - a)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, check=True, env=env)  # fmt: skip
    return round(float(out.stdout.strip()), 1)


def _window(pids: list[int], seconds: float) -> list[float]:
    """CPU percent of one core of each pid over the next ``seconds``."""
    before = [fc.cpu_s(p) for p in pids]
    t0 = time.monotonic()
    time.sleep(seconds)
    dt = time.monotonic() - t0
    return [round(100 * (fc.cpu_s(p) - b) / dt, 2) for p, b in zip(pids, before, strict=True)]


def _page_loads(base: str, loads: int, browser_window: float, pid: int) -> dict[str, Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"gateway_load": "playwright not installed"}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(f"{base}/login")
        page.fill("#password", PASSWORD)
        page.click("#login-button")
        page.wait_for_selector("body[data-loaded='gateway']")
        drawn, whole = [], []
        for _ in range(loads + 1):
            t0 = time.monotonic()
            page.goto(f"{base}/gateway")
            page.wait_for_selector("body[data-loaded='gateway']")
            whole.append(1000 * (time.monotonic() - t0))
            drawn.append(float(page.evaluate("window.__loadedAt")))
        drawn, whole = drawn[1:], whole[1:]  # the first load warms the cache
        (busy,) = _window([pid], browser_window)
        browser.close()
    return {
        "gateway_load_ms_median": round(statistics.median(drawn), 1),
        "gateway_load_ms_max": round(max(drawn), 1),
        "gateway_goto_ms_median": round(statistics.median(whole), 1),
        "loads": loads,
        "cpu_pct_console_browser": busy,
    }


def run(quick: bool) -> dict[str, Any]:
    duration = 20.0 if quick else 120.0
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        broker = Mosquitto(tmp).start()
        sim, sim_port = start_elevator_simulator("1=normal", "2=normal", speed=1.0)
        (tmp / "a").mkdir()
        (tmp / "b").mkdir()
        console = plain = None
        try:
            console = start_console_agent(tmp / "a", broker.port, _drivers(sim_port))
            cfg = write_config(tmp / "b" / "config.yaml", port=broker.port,
                               buffer=tmp / "b" / "outbox.db", drivers=_drivers(sim_port),
                               gateway="gw-0002")  # fmt: skip
            plain = AgentProcess(cfg, tmp / "b" / "agent.log").start()
            assert console.agent.proc is not None and plain.proc is not None
            pids = [console.agent.proc.pid, plain.proc.pid]
            time.sleep(5.0)  # both connected and polling
            cpu_console, cpu_plain = _window(pids, duration)
            rss_console, rss_plain = (fc.proc_rss(p)[0] for p in pids)
            loads = _page_loads(console.base, 5 if quick else 20, duration / 2, pids[0])
        finally:
            for agent in (console.agent if console else None, plain):
                if agent is not None and agent.alive():
                    agent.terminate()
            sim.terminate()
            sim.wait(10)
            broker.stop()
    return {
        "duration_s": duration,
        "cpu_pct_console": cpu_console,
        "cpu_pct_plain": cpu_plain,
        "cpu_pct_diff": round(cpu_console - cpu_plain, 2),
        "rss_mb_console": round(rss_console, 1),
        "rss_mb_plain": round(rss_plain, 1),
        "console_rss_mb": round(rss_console - rss_plain, 1),
        "import_rss_mb": _import_rss(),
        **loads,
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
