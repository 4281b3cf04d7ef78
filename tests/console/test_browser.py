"""The console in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

One run of the whole crew journey against a real agent process: the Modbus simulator with
two cars (one scripted to trap a passenger), a camera fed a clip made from the shared photos
(a bike standing in a corridor), and a real Mosquitto. Log in; see both cars and the
entrapment; see the zones on the camera frame; draw a 4-point zone round the bike by
clicking, save it, and observe the config change, the camera driver's restart and a
``parking.violation.started`` in that zone at the broker; try an invalid zone and see the
inline error; switch to Chinese; log out. Screenshots of every page go to
``test-artifacts/console/`` (a CI artifact; gitignored) with the page load times.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.broker import Mosquitto, Subscriber
from tests.console.stack import (
    ARTIFACTS,
    PASSWORD,
    ConsoleAgent,
    start_console_agent,
    start_elevator_simulator,
    start_wearable_simulator,
)
from tests.shared_data import MODEL_SHA256
from tests.spine.agentproc import wait_for
from tests.vision.clips import State, load_props, make_clip

playwright = pytest.importorskip("playwright.sync_api", reason="pip install edge-agent[test]")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
WEAR_SPEED = 60.0  # bracelets: one telemetry window (60 s) per second
SPEED = 5.0  # simulator time compression: the entrapment starts ~4 s in and lasts ~18 s
# The new zone, clicked corner by corner: the floor under the bike (tests/vision/clips.py).
NEW_ZONE = [(0.22, 0.72), (0.82, 0.72), (0.82, 0.98), (0.22, 0.98)]
STRAY = (0.5, 0.45)


def _drivers(tmp: Path, shared: Path, sim_port: int, wearable: Path) -> list[dict[str, Any]]:
    props = load_props(shared)
    clip = make_clip(tmp / "corridor.avi", props, 8.0, lambda _t: State(bike=True))
    lift = {"profile": "gb-monitor-box", "time_speed": SPEED, "poll_periods_ms": {"fast": 200}}
    return [
        {"name": "lifts", "kind": "modbus", "port": sim_port,
         "devices": [{"id": "lift-a", "unit_id": 1, **lift},
                     {"id": "lift-b", "unit_id": 2, **lift}]},
        {"name": "cam1", "kind": "camera", "source": str(clip), "file_end": "loop",
         "model": {"path": str(shared / "models" / "yolox_nano.onnx"), "sha256": MODEL_SHA256},
         "sampling": {"idle_interval_s": 1.0, "active_interval_s": 0.5},
         "zones": [{"id": "door-left", "kind": "entrance",
                    "polygon": [[0.02, 0.1], [0.16, 0.1], [0.16, 0.6], [0.02, 0.6]]}]},
        {"name": "bands", "kind": "serial", "port": str(wearable), "codec": "bracelet",
         "time_speed": WEAR_SPEED, "telemetry_period_s": 60,
         "devices": [{"id": f"band-{n}", "resident": f"r{n:04d}", "frame_id": f"{n:08x}"}
                     for n in (1, 2)]},
    ]  # fmt: skip


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, shared_dir: Path
) -> Iterator[tuple[ConsoleAgent, Subscriber]]:
    # Module scope: paho's wake-up socket pair outlives close() until collected.
    tmp_path = tmp_path_factory.mktemp("console-browser")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    broker = Mosquitto(tmp_path).start()
    sub = Subscriber(broker.port)
    sim, sim_port = start_elevator_simulator("1=normal", "2=entrapment-level", speed=SPEED)
    wear = start_wearable_simulator(tmp_path / "wearable", 2, WEAR_SPEED)
    ca = None
    try:
        drivers = _drivers(tmp_path, shared_dir, sim_port, tmp_path / "wearable")
        ca = start_console_agent(tmp_path, broker.port, drivers)
        yield ca, sub
    finally:
        if ca is not None:
            ca.stop()
            (ARTIFACTS / "agent.log").write_text(ca.agent.log())
        for proc in (sim, wear):
            proc.terminate()
            proc.wait(10)
        sub.close()
        broker.stop()


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _open(page: Any, base: str, name: str) -> float:
    """Navigate to a page and wait for its data; the load time in ms (navigation to data)."""
    page.goto(f"{base}/{name}")
    page.wait_for_selector(f"body[data-loaded='{name}']", timeout=30_000)
    return float(page.evaluate("window.__loadedAt"))


def _at(page: Any, point: tuple[float, float], action: Any) -> None:
    box = page.locator("#zone-svg").bounding_box()
    action(box["x"] + point[0] * box["width"], box["y"] + point[1] * box["height"])


def _click_zone(page: Any, points: list[tuple[float, float]]) -> None:
    box = page.locator("#zone-svg").bounding_box()
    for x, y in points:
        page.mouse.click(box["x"] + x * box["width"], box["y"] + y * box["height"])


def test_crew_journey_in_a_real_browser(stack: tuple[ConsoleAgent, Subscriber]) -> None:
    ca, sub = stack
    timings: dict[str, float] = {}
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            _journey(page, ca, sub, timings)
        finally:
            browser.close()
    (ARTIFACTS / "timings.json").write_text(json.dumps(timings, indent=2))


def _journey(page: Any, ca: ConsoleAgent, sub: Subscriber, timings: dict[str, float]) -> None:
    base = ca.base
    # Not logged in: the page sends us to the login form.
    page.goto(f"{base}/gateway")
    assert page.url.endswith("/login")
    _shot(page, "01-login")
    page.fill("#password", PASSWORD)
    page.click("#login-button")
    page.wait_for_selector("body[data-loaded='gateway']")
    page.wait_for_selector("#drivers tr[data-driver='cam1']")
    page.wait_for_selector("#drivers tr[data-driver='lifts'] .badge.running", timeout=30_000)
    timings["gateway_ms"] = _open(page, base, "gateway")
    _shot(page, "02-gateway")

    _open(page, base, "elevators")
    page.wait_for_selector("[data-car='lift-a']", timeout=30_000)
    page.wait_for_selector("[data-car='lift-b']", timeout=30_000)
    page.wait_for_selector("[data-car='lift-b'] [data-fault='ENTRAP_LEVEL']", timeout=90_000)
    _shot(page, "03-elevators-entrapment")

    timings["cameras_ms"] = _open(page, base, "cameras")
    cam = page.locator("[data-camera='cam1']")
    page.wait_for_function(
        "() => { const i = document.querySelector(\"[data-camera='cam1'] img.frame\");"
        " return i && i.complete && i.naturalWidth > 0; }", timeout=60_000)  # fmt: skip
    assert cam.locator("polygon.zone").count() == 1
    page.wait_for_selector("[data-camera='cam1'] .overlay circle.anchor", timeout=60_000)
    _shot(page, "04-cameras-zones")

    _draw_and_save(page, ca, base)
    applied = hashlib.sha256(ca.config.read_bytes()).hexdigest()
    assert applied[:12] in page.inner_text("#zone-message")
    assert wait_for(lambda: any(
        e["type"] == "gateway.console.change" and e["data"]["action"] == "zones.save"
        and e["data"]["outcome"] == "applied" and e["data"]["config_sha256"] == applied
        for e in sub.events()), 30), "no gateway.console.change for the save"  # fmt: skip
    assert wait_for(lambda: any(
        e["type"] == "parking.violation.started" and e["subject"] == "cam1/bike-bay"
        for e in sub.events()), 120), "no violation in the new zone at the broker"  # fmt: skip
    _open(page, base, "cameras")
    page.wait_for_selector("[data-camera='cam1'] .violations img", timeout=30_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.violations img')].every(i => i.naturalWidth > 0)"
    )
    _shot(page, "06-cameras-violation")

    _invalid_zone(page, ca, base)

    _open(page, base, "gateway")
    page.click("#lang")
    page.wait_for_selector("nav a[data-page='gateway']:text('网关')")
    page.wait_for_selector("body[data-loaded='gateway']")
    _shot(page, "08-gateway-zh")
    _open(page, base, "residents")
    page.wait_for_selector("tr[data-device='band-2']", timeout=60_000)
    page.wait_for_function("() => document.querySelector(\"tr[data-device='band-1']\")"
                           ".textContent.includes('%')")  # fmt: skip
    text = page.inner_text("main")
    assert "r0001" not in text and "hr" not in text.lower()  # no resident refs, no vitals
    _shot(page, "09-residents-zh")
    page.click("#lang")

    page.click("#logout")
    page.wait_for_url(f"{base}/login")
    page.goto(f"{base}/cameras")
    assert page.url.endswith("/login")
    assert page.request.get(f"{base}/api/cameras").status == 401


def _draw_and_save(page: Any, ca: ConsoleAgent, base: str) -> None:
    before = ca.config.read_text()
    page.goto(f"{base}/zones?camera=cam1")
    page.wait_for_selector("body[data-loaded='zones']")
    page.click("#new-zone")
    page.fill("#zone-name", "bike-bay")
    page.select_option("#zone-kind", "corridor")
    page.fill("#zone-grace", "2")
    # Click the corners (the first one off by a bit) and one stray point; delete the stray
    # point with a double-click and drag the first corner to its place.
    _click_zone(page, [(0.26, 0.76), *NEW_ZONE[1:], STRAY])
    assert page.locator("#zone-svg circle.handle").count() == 5
    _at(page, STRAY, page.mouse.dblclick)
    assert page.locator("#zone-svg circle.handle").count() == 4
    _at(page, (0.26, 0.76), page.mouse.move)
    page.mouse.down()
    _at(page, (0.24, 0.74), page.mouse.move)
    _at(page, NEW_ZONE[0], page.mouse.move)
    page.mouse.up()
    assert page.locator("#zone-svg circle.handle").count() == 4
    _shot(page, "05a-zone-drawn")
    log = ca.agent.log()
    started, lifts = log.count("driver cam1 (camera) starting"), log.count("driver lifts (modbus)")
    page.click("#save-zones")
    page.wait_for_selector("#zone-message[data-outcome='applied']", timeout=90_000)
    _shot(page, "05b-zone-saved")
    after = ca.config.read_text()
    assert after != before
    zones = {z["id"]: z for z in yaml.safe_load(after)["drivers"][1]["zones"]}
    assert set(zones) == {"door-left", "bike-bay"} and zones["bike-bay"]["grace_s"] == 2
    for got, want in zip(zones["bike-bay"]["polygon"], NEW_ZONE, strict=True):
        assert abs(got[0] - want[0]) < 0.01 and abs(got[1] - want[1]) < 0.01
    log = ca.agent.log()
    assert "drivers reconfigured: added [], changed ['cam1'], removed []" in log
    assert log.count("driver cam1 (camera) starting") == started + 1
    assert log.count("driver lifts (modbus)") == lifts  # the lifts kept running untouched
    assert (ca.config.parent / "config.yaml.previous").read_text() == before


def _invalid_zone(page: Any, ca: ConsoleAgent, base: str) -> None:
    before = ca.config.read_text()
    page.goto(f"{base}/zones?camera=cam1")
    page.wait_for_selector("body[data-loaded='zones']")
    page.click("#new-zone")
    page.fill("#zone-name", "bike-bay")  # a duplicate name
    _click_zone(page, [(0.3, 0.2), (0.5, 0.2)])  # and only two points
    page.click("#save-zones")
    page.wait_for_selector("#zone-message[data-outcome='invalid']", timeout=30_000)
    errors = page.locator("#zone-panel .field-error")
    texts = " ".join(errors.all_inner_texts())
    assert "already used" in texts and "3 points" in texts
    assert page.locator("#zone-svg polyline.zone.invalid").count() == 1
    _shot(page, "07-zone-invalid")
    assert ca.config.read_text() == before
