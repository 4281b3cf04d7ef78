"""The live status the running agent publishes locally, for ``edge-agent diag`` and the console.

Why a file: a crew's ``diag`` (and the local web console) must see what the agent sees
without opening the serial ports and cameras the agent holds, and without a socket or a
second process to keep alive. The agent writes one JSON document, ``<state_dir>/status.json``
(mode 0640: readable by the service group, not by everyone), atomically (a reader never
sees half of it), when its content changes and at most every ``min_interval_s``; nothing
is written while nothing changes. Times in it are wall-clock epochs (``*_at``, seconds),
never ages, so a quiet agent's document does not change every second; ages are computed
by the reader (:meth:`StatusSnapshot.age_s`).

API (stable; base layer, importable by drivers/ and vision/):

* Models: :class:`StatusSnapshot` with :class:`UplinkStatus`, :class:`BacklogStatus`,
  :class:`DriverStatus`, :class:`DeviceStatus`, :class:`HealthReadings`. ``schema`` is
  :data:`SCHEMA_VERSION`; fields are only ever added.
* Drivers report per-device state on the :class:`DeviceBoard` they get with
  ``device_board(context.shared)`` (thread-safe; a camera's capture thread may call it):
  ``board.report(driver, device, state, reason=...)`` on a transition and
  ``board.seen(driver, device, **details)`` when the device answered (details are flat
  scalars: ``frames_ok``, ``resolution``...); ``board.detail(...)`` updates details
  without "it answered" (a garbage counter). A driver built outside the agent (a CLI
  tool, a test) gets a board nobody reads, which is harmless.
* The agent: :class:`StatusWriter` (``offer(snapshot)`` writes if changed and not too
  soon) driven by :func:`publish_status` (a loop over a ``collect`` coroutine).
* Readers: ``status_path(state_dir)`` is where it is; :func:`read_status` (the document
  or ``None``) and :func:`live_status` (only if the agent that wrote it is still running:
  ``running`` set and its pid alive). Look devices up with ``snapshot.device(driver,
  device)``: Modbus devices by their config ``id``, serial ports by the configured
  ``port``, cameras by the driver name (``device == driver``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.driver import SharedResources
from agent.events import EventData
from agent.state_file import write_atomic

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
STATUS_FILE = "status.json"
STATUS_MODE = 0o640
BOARD_KEY = "agent.status.devices"

Scalar = str | int | float | bool | None


class UplinkStatus(BaseModel):
    state: Literal["connecting", "up", "down"] = "connecting"
    reason: str | None = Field(default=None, description="Why it is down, in words.")
    broker: str = Field(default="", description="host:port")
    since: float | None = Field(default=None, description="Epoch of the last transition.")


class BacklogStatus(BaseModel):
    pending: int = 0
    pending_bytes: int = 0
    bytes_by_priority: dict[str, int] = Field(default_factory=dict)
    dead_letters: int = 0
    oldest_unsent_at: float | None = Field(default=None, description="Epoch, None if empty.")


class DriverStatus(BaseModel):
    name: str
    kind: str = ""
    state: str = "starting"  # starting | running | failing (agent/supervisor.py)
    last_error: str | None = None
    restarts: int = 0
    last_seen: float | None = Field(default=None, description="Epoch of its last event.")


class DeviceStatus(BaseModel):
    driver: str
    device: str
    state: str = "unknown"  # online | offline | unknown, as the driver says
    reason: str | None = None
    last_seen: float | None = Field(default=None, description="Epoch it last answered.")
    details: dict[str, Scalar] = Field(default_factory=dict)


class HealthReadings(EventData):
    """The gateway's own measurements (agent/health.py); ``None`` means unavailable."""

    cpu_temp_c: float | None = None
    throttled_raw: int | None = None
    under_voltage_now: bool | None = None
    throttled_now: bool | None = None
    memory_used_fraction: float | None = None
    disk_free_bytes: int | None = None
    disk_free_fraction: float | None = None
    clock_synchronised: bool | None = None
    cert_expires_in_days: float | None = None


class StatusSnapshot(BaseModel):
    schema_version: int = Field(default=SCHEMA_VERSION, alias="schema")
    gateway_id: str
    version: str = ""
    pid: int = Field(default_factory=os.getpid)
    running: bool = True
    started_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)
    uplink: UplinkStatus = Field(default_factory=UplinkStatus)
    backlog: BacklogStatus = Field(default_factory=BacklogStatus)
    drivers: list[DriverStatus] = Field(default_factory=list)
    devices: list[DeviceStatus] = Field(default_factory=list)
    health: HealthReadings = Field(default_factory=HealthReadings)

    model_config = ConfigDict(populate_by_name=True)

    def device(self, driver: str, device: str) -> DeviceStatus | None:
        return next((d for d in self.devices if (d.driver, d.device) == (driver, device)), None)

    def driver(self, name: str) -> DriverStatus | None:
        return next((d for d in self.drivers if d.name == name), None)

    @staticmethod
    def age_s(at: float | None, now: float | None = None) -> float | None:
        """Seconds since the epoch ``at`` (``None`` stays ``None``)."""
        return None if at is None else max(0.0, (time.time() if now is None else now) - at)

    def content(self) -> str:
        """The document without ``updated_at``: what "changed" is judged on."""
        return self.model_dump_json(by_alias=True, exclude={"updated_at"})


class DeviceBoard:
    """Per-device state the drivers expose; read by the agent's status collector."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._devices: dict[tuple[str, str], DeviceStatus] = {}

    def report(self, driver: str, device: str, state: str, *, reason: str | None = None) -> None:
        """A transition: ``online``/``offline``/``unknown`` and why (``None`` when fine)."""
        with self._lock:
            entry = self._devices.setdefault(
                (driver, device), DeviceStatus(driver=driver, device=device)
            )
            entry.state, entry.reason = state, reason

    def seen(self, driver: str, device: str, when: float | None = None, **details: Scalar) -> None:
        """The device answered (at ``when``, epoch; now if not given), with its details."""
        with self._lock:
            entry = self._devices.setdefault(
                (driver, device), DeviceStatus(driver=driver, device=device)
            )
            entry.last_seen = round(time.time() if when is None else when, 1)
            entry.details.update(details)

    def detail(self, driver: str, device: str, **details: Scalar) -> None:
        """Details without "it answered" (e.g. a garbage counter growing)."""
        with self._lock:
            entry = self._devices.setdefault(
                (driver, device), DeviceStatus(driver=driver, device=device)
            )
            entry.details.update(details)

    def forget(self, driver: str) -> None:
        with self._lock:
            for key in [k for k in self._devices if k[0] == driver]:
                del self._devices[key]

    def snapshot(self) -> list[DeviceStatus]:
        with self._lock:
            return [d.model_copy(deep=True) for _, d in sorted(self._devices.items())]


def device_board(shared: SharedResources) -> DeviceBoard:
    """The agent's board (one per agent, in the drivers' shared resources)."""
    return shared.get_or_create(BOARD_KEY, DeviceBoard)


class StatusWriter:
    """Writes a snapshot to ``path`` when its content changed, at most every interval."""

    def __init__(
        self,
        path: Path,
        *,
        min_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.writes = 0
        self._min_interval = min_interval_s
        self._clock = clock
        self._last_content: str | None = None
        self._last_write: float | None = None
        self._failing = False

    def offer(self, snapshot: StatusSnapshot, *, force: bool = False) -> bool:
        """Write ``snapshot`` if it differs from the last one written; True if written.

        Blocking (a small file, not fsynced: it describes the present, a power cut makes
        it stale anyway): call from a worker thread on the agent's loop.
        """
        content = snapshot.content()
        now = self._clock()
        if content == self._last_content and not force:
            return False
        if (
            not force
            and self._last_write is not None
            and now - self._last_write < self._min_interval
        ):
            return False
        data = snapshot.model_dump_json(by_alias=True, indent=1).encode()
        try:
            write_atomic(self.path, data, durable=False, mode=STATUS_MODE)
        except OSError as exc:
            if not self._failing:
                log.error("cannot write the live status %s: %s", self.path, exc)
            self._failing = True
            return False
        if self._failing:
            log.info("live status %s written again", self.path)
        self._failing = False
        self._last_content, self._last_write = content, now
        self.writes += 1
        return True


async def publish_status(
    collect: Callable[[], Awaitable[StatusSnapshot]],
    writer: StatusWriter,
    *,
    interval_s: float = 1.0,
) -> None:
    """Collect and offer a snapshot every ``interval_s`` until cancelled; on cancel,
    write it once more with ``running: false`` so readers know the agent stopped."""
    try:
        while True:
            try:
                snapshot = await collect()
            except Exception:
                log.exception("could not collect the live status")
            else:
                await asyncio.to_thread(writer.offer, snapshot)
            await asyncio.sleep(interval_s)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            final = await collect()
            final.running = False
            writer.offer(final, force=True)
        raise


def read_status(path: Path) -> StatusSnapshot | None:
    """The document at ``path``; ``None`` if absent, unreadable or not a status."""
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    try:
        return StatusSnapshot.model_validate_json(raw)
    except ValidationError:
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by the service user
    return True


def live_status(
    path: Path, *, pid_alive: Callable[[int], bool] = _pid_alive
) -> StatusSnapshot | None:
    """The status of a running agent: the document, if it says running and its pid lives.

    A ``kill -9`` leaves ``running: true`` behind; the dead pid tells. (A pid reused
    since is possible but rare on a gateway; its snapshot would then look frozen.)
    """
    snapshot = read_status(path)
    if snapshot is None or not snapshot.running or not pid_alive(snapshot.pid):
        return None
    return snapshot


def status_path(state_dir: Path) -> Path:
    return Path(state_dir) / STATUS_FILE
