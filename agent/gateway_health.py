"""The gateway health source: its own measurements as telemetry, alarms on transitions.

Measured every ``interval_s`` (agent/health.py's readers over a filesystem root, the disk
under the outbox, the clock, the client certificate): the readings go to the live status
(agent/status.py) and, every ``telemetry_every_s``, out as one ``gateway.telemetry``
event. Five conditions raise a ``gateway.alarm`` when they start and a clear when they end,
exactly once per transition (docs/events.md): under-voltage now, throttled now
(anchors-reliability.md §5.4: firmware bits 0 and 2), disk nearly full, clock not
synchronised, client certificate expiring within ``cert_warn_days``. A reading that is
unavailable (not a Pi, no certificate) changes no condition: "unknown" is never "cleared".

Everything the source reads is injected (:class:`Probes`), so transitions are tested on
fake sysfs trees with a fake clock.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from agent.clock import clock_is_synchronised
from agent.events import Event, EventData, Priority, Severity
from agent.gateway_health_config import GatewayHealthConfig as GatewayHealthConfig
from agent.health import cpu_temperature, read_memory, read_throttled
from agent.status import HealthReadings

log = logging.getLogger(__name__)

Condition = Literal["under_voltage", "throttled", "disk_low", "clock_unsynced", "cert_expiring"]


class GatewayAlarmData(EventData):
    """``data`` of ``gateway.alarm``: one condition starting (active) or ending."""

    condition: Condition
    active: bool
    value: float | bool | None = Field(description="The reading that decided it.")
    threshold: float | None = None
    message: str


@dataclass
class Probes:
    """What the source reads; each is replaced in tests."""

    root: Path = Path("/")
    disk_path: Path = Path("/")
    cert_path: Path | None = None
    clock_synced: Callable[[], bool] = clock_is_synchronised
    now: Callable[[], float] = time.time


def cert_not_after(path: Path) -> float | None:
    """Expiry (epoch) of the PEM certificate at ``path``; ``None`` if unreadable.

    The stdlib decoder behind ``ssl`` (``_test_decode_cert``) is used so that reading a
    date does not pull in a crypto library on every gateway.
    """
    try:
        decoded: dict[str, Any] = ssl._ssl._test_decode_cert(str(path))  # type: ignore[attr-defined]
        return float(ssl.cert_time_to_seconds(str(decoded["notAfter"])))
    except (OSError, ssl.SSLError, KeyError, ValueError, TypeError, AttributeError):
        return None


def measure(probes: Probes) -> HealthReadings:
    throttled = read_throttled(probes.root)
    memory = read_memory(probes.root)
    try:
        disk = shutil.disk_usage(probes.disk_path)
    except OSError:
        disk = None
    not_after = cert_not_after(probes.cert_path) if probes.cert_path else None
    return HealthReadings(
        cpu_temp_c=cpu_temperature(probes.root),
        throttled_raw=throttled.raw if throttled else None,
        under_voltage_now=throttled.under_voltage_now if throttled else None,
        throttled_now=throttled.throttled_now if throttled else None,
        # Coarse on purpose: the live status is rewritten only when a reading changes.
        memory_used_fraction=round(memory.used_fraction, 2) if memory else None,
        disk_free_bytes=disk.free >> 20 << 20 if disk else None,
        disk_free_fraction=round(disk.free / disk.total, 4) if disk and disk.total else None,
        clock_synchronised=probes.clock_synced(),
        cert_expires_in_days=(
            None if not_after is None else round((not_after - probes.now()) / 86400, 1)
        ),
    )


def conditions(r: HealthReadings, cfg: GatewayHealthConfig) -> dict[Condition, GatewayAlarmData]:
    """Each condition the readings can decide, active or not (undecidable ones left out)."""
    out: dict[Condition, GatewayAlarmData] = {}

    def put(name: Condition, active: bool, value: Any, threshold: float | None, msg: str) -> None:
        out[name] = GatewayAlarmData(
            condition=name, active=active, value=value, threshold=threshold, message=msg
        )

    if r.under_voltage_now is not None:
        put(
            "under_voltage",
            r.under_voltage_now,
            r.under_voltage_now,
            None,
            "supply under-voltage now: use the rated supply and a short, thick cable",
        )
    if r.throttled_now is not None:
        put(
            "throttled",
            r.throttled_now,
            r.throttled_now,
            None,
            "CPU throttled now: check cooling and power",
        )
    if r.disk_free_fraction is not None:
        put(
            "disk_low",
            r.disk_free_fraction < cfg.disk_low_fraction,
            r.disk_free_fraction,
            cfg.disk_low_fraction,
            "disk under the outbox nearly full",
        )
    if r.clock_synchronised is not None:
        put(
            "clock_unsynced",
            not r.clock_synchronised,
            r.clock_synchronised,
            None,
            "wall clock not synchronised (NTP)",
        )
    if r.cert_expires_in_days is not None:
        put(
            "cert_expiring",
            r.cert_expires_in_days < cfg.cert_warn_days,
            r.cert_expires_in_days,
            cfg.cert_warn_days,
            "client certificate expiring",
        )
    return out


@dataclass
class HealthSource:
    """Measures, remembers each condition's state and emits one event per transition."""

    config: GatewayHealthConfig
    probes: Probes
    emit: Callable[[Event], Awaitable[None]]
    source: str
    monotonic: Callable[[], float] = time.monotonic
    # Quiet: measure for the live status only, no events (no ``health:`` section).
    quiet: bool = False
    latest: HealthReadings | None = None
    active: dict[str, bool] = field(default_factory=dict)
    _last_telemetry: float | None = None

    async def step(self) -> list[Event]:
        """One round: measure, emit transitions (and telemetry when due); what it emitted."""
        readings = await asyncio.to_thread(measure, self.probes)
        self.latest = readings
        if self.quiet:
            return []
        events = [self._alarm(c) for c in self._transitions(readings)]
        now = self.monotonic()
        if (
            self._last_telemetry is None
            or now - self._last_telemetry >= self.config.telemetry_every_s
        ):
            self._last_telemetry = now
            events.append(self._telemetry(readings))
        for event in events:
            try:
                await self.emit(event)
            except Exception as exc:  # a full outbox must not stop the health source
                log.error("could not record %s: %s", event.type, exc)
        return events

    def _transitions(self, readings: HealthReadings) -> list[GatewayAlarmData]:
        changed = []
        for name, data in conditions(readings, self.config).items():
            was = self.active.get(name, False)
            if data.active != was:
                self.active[name] = data.active
                changed.append(data)
                log.log(
                    logging.WARNING if data.active else logging.INFO,
                    "gateway %s %s (%s)",
                    name,
                    "started" if data.active else "ended",
                    data.value,
                )
        return changed

    def _alarm(self, data: GatewayAlarmData) -> Event:
        severity = Severity.WARNING if data.active else Severity.INFO
        if data.active and data.condition in ("under_voltage", "disk_low"):
            severity = Severity.CRITICAL  # corrupts the SD card / stops buffering
        return Event(
            type="gateway.alarm",
            subject=f"gateway:{data.condition}",
            data=data.model_dump(mode="json"),
            priority=Priority.ALARM,
            severity=severity,
            source=self.source,
        )

    def _telemetry(self, readings: HealthReadings) -> Event:
        return Event(
            type="gateway.telemetry",
            subject="gateway",
            data=readings.model_dump(mode="json"),
            priority=Priority.TELEMETRY,
            severity=Severity.INFO,
            source=self.source,
        )

    async def run(self) -> None:
        while True:
            try:
                await self.step()
            except Exception:
                log.exception("gateway health round failed")
            await asyncio.sleep(self.config.interval_s)
