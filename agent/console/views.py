"""The console pages' data: JSON documents built from the running agent's own objects.

No web framework here (agent/console/server.py serves these). The Gateway page reads the
live status (agent/status.py, the same document ``diag`` reads) plus the gateway's health
readings (agent/health.py); Elevators and Residents read what the event tap folded
(agent/console/tap.py); Cameras ask each running camera driver (vision/live.py, imported
only when a camera is configured, so a camera-less console never loads OpenCV).
"""

from __future__ import annotations

import importlib
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from agent.clock import clock_is_synchronised
from agent.console.tap import EventTap
from agent.driver import EventSink
from agent.health import cpu_temperature, read_memory, read_throttled
from agent.staged_apply import StagedApply
from agent.status import HealthReadings
from agent.status_collect import StatusCollector
from agent.supervisor import Supervisor


class AgentLike(Protocol):
    """What the console needs of the agent (agent/app.py's ``Agent`` has all of it)."""

    gateway_id: str
    state_dir: Path
    status: StatusCollector
    supervisor: Supervisor
    staged: StagedApply
    sink: EventSink


def _age(iso: str | None, now: datetime) -> float | None:
    if iso is None:
        return None
    return round(max(0.0, (now - datetime.fromisoformat(iso)).total_seconds()), 1)


def health_readings(state_dir: Path) -> HealthReadings:
    """The gateway's own measurements, each ``None`` where it cannot be read."""
    throttled, memory = read_throttled(), read_memory()
    try:
        disk = shutil.disk_usage(state_dir)
        free, fraction = disk.free, round(disk.free / disk.total, 4) if disk.total else None
    except OSError:
        free, fraction = None, None
    return HealthReadings(
        cpu_temp_c=cpu_temperature(),
        throttled_raw=throttled.raw if throttled else None,
        under_voltage_now=throttled.under_voltage_now if throttled else None,
        throttled_now=throttled.throttled_now if throttled else None,
        memory_used_fraction=round(memory.used_fraction, 4) if memory else None,
        disk_free_bytes=free,
        disk_free_fraction=fraction,
        clock_synchronised=clock_is_synchronised(),
    )


async def gateway_view(agent: AgentLike, tap: EventTap) -> dict[str, Any]:
    snap = await agent.status.collect()
    if snap.health == HealthReadings():
        snap = snap.model_copy(update={"health": health_readings(agent.state_dir)})
    doc: dict[str, Any] = snap.model_dump(mode="json", by_alias=True)
    now = time.time()
    doc["backlog"]["oldest_unsent_age_s"] = snap.age_s(snap.backlog.oldest_unsent_at, now)
    doc["uplink"]["age_s"] = snap.age_s(snap.uplink.since, now)
    for d in doc["drivers"]:
        d["last_seen_age_s"] = snap.age_s(d.get("last_seen"), now)
    doc["config_sha256"] = agent.staged.current.sha256
    doc["events"] = list(reversed(tap.recent))
    return doc


def elevators_view(tap: EventTap) -> dict[str, Any]:
    now = datetime.now(UTC)
    cars = []
    for device, car in sorted(tap.cars.items()):
        s = car.status
        cars.append({
            "device": device,
            "online": car.online,
            "floor": s.get("floor"),
            "direction": s.get("direction"),
            "door": s.get("door"),
            "running": s.get("running"),
            "service_mode": s.get("service_mode"),
            "passenger": s.get("passenger"),
            "status_age_s": _age(car.status_at.isoformat() if car.status_at else None, now),
            "faults": [
                {**f, "age_s": _age(f["since"], now)}
                for f in sorted(car.faults.values(), key=lambda f: str(f["since"]))
            ],
        })  # fmt: skip
    return {"cars": cars}


def _live_residents(supervisor: Supervisor) -> dict[str, dict[str, Any]]:
    """What the running serial drivers know of each device (drivers/serial/rules.py)."""
    now = time.monotonic()
    out: dict[str, dict[str, Any]] = {}
    for cfg in supervisor.configs:
        rules = getattr(supervisor.drivers.get(cfg.name), "rules", None)
        if getattr(cfg, "kind", "") != "serial" or not isinstance(rules, dict):
            continue
        for device, r in rules.items():
            seen = getattr(r, "last_frame", None)
            battery = getattr(r, "battery", None)
            out[str(device)] = {
                "device": str(device),
                "last_seen_age_s": None if seen is None else round(max(0.0, now - seen), 1),
                "battery": None if battery is None else round(battery),
                "worn": getattr(r, "worn", None),
            }
    return out


def residents_view(agent: AgentLike, tap: EventTap) -> dict[str, Any]:
    """Device id, last seen, battery and wear only: no vital signs, no names, no refs."""
    now = datetime.now(UTC)
    devices = {
        r.device: {
            "device": r.device,
            "last_seen_age_s": _age(r.last_seen.isoformat(), now),
            "battery": None if r.battery is None else round(r.battery),
            "worn": r.worn,
        }
        for r in tap.residents.values()
    }
    devices.update(_live_residents(agent.supervisor))
    return {"devices": [devices[d] for d in sorted(devices)]}


def _live() -> Any:
    return importlib.import_module("vision.live")


def has_cameras(supervisor: Supervisor) -> bool:
    return any(getattr(c, "kind", "") == "camera" for c in supervisor.configs)


def camera_driver(supervisor: Supervisor, name: str) -> Any:
    """The running camera driver ``name``, or None."""
    if not has_cameras(supervisor):
        return None
    driver = supervisor.drivers.get(name)
    return driver if driver is not None and _live().is_camera(driver) else None


def cameras_view(agent: AgentLike, tap: EventTap) -> dict[str, Any]:
    sup = agent.supervisor
    now = datetime.now(UTC)
    cameras: list[dict[str, Any]] = []
    if has_cameras(sup):
        live = _live()
        for cfg in sup.configs:
            driver = camera_driver(sup, cfg.name)
            if driver is None:
                continue
            view = live.camera_live(driver)
            view["violations"] = [
                {
                    "id": v.id,
                    "zone": v.zone,
                    "started": v.started.isoformat(),
                    "age_s": _age(v.started.isoformat(), now),
                    "evidence": [
                        {**e, "url": f"/api/evidence/{v.id}/{i}.jpg"}
                        for i, e in enumerate(v.evidence[: len(v.images)])
                    ],
                }
                for v in tap.violations.values()
                if v.camera == cfg.name
            ]
            cameras.append(view)
    return {"cameras": cameras}


def frame_jpeg(agent: AgentLike, name: str) -> bytes | None:
    driver = camera_driver(agent.supervisor, name)
    return None if driver is None else bytes(_live().frame_jpeg(driver))


def evidence_jpeg(tap: EventTap, violation: str, index: int) -> bytes | None:
    v = tap.violations.get(violation)
    if v is None or not 0 <= index < len(v.images):
        return None
    return v.images[index]
