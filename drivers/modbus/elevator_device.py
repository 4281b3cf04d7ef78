"""One elevator on a bus: poll results -> snapshot -> health, status and fault events.

Events (all with the device id as subject):

* ``elevator.alarm`` / ``elevator.fault`` / ``elevator.event``: taxonomy episodes,
  ``data.state`` is ``raised`` then ``cleared``, both carrying the same ``episode`` id.
* ``elevator.health``: ``offline`` (key ``COMM_LOST``) after N failed polls, or when the
  whole bus is unusable past the same hold (priority alarm, critical: silence is itself a
  fault), and ``online`` when it answers again; both carry one ``episode`` id. The
  offline state outlives restarts (drivers/modbus/comm_state.py): a lift reported
  offline before a restart is not reported again, and is announced online when it
  answers.
* ``elevator.mode``: service-mode changes (entering/leaving inspection, fire, ...).
* ``elevator.status``: telemetry snapshot on change and every ``status_interval_s``.

Logging follows the "log transitions, not every failure" rule (aesthetics.md §2 item 10).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent.events import Event, Priority, Severity, uuid7
from drivers.modbus.elevator_state import ElevatorSnapshot, build_snapshot
from drivers.modbus.episode_store import OpenEpisode
from drivers.modbus.errors import ExceptionReplyError, ReadError
from drivers.modbus.events import (
    ElevatorAlarm,
    ElevatorEvent,
    ElevatorFault,
    ElevatorHealth,
    ElevatorMode,
    ElevatorStatus,
)
from drivers.modbus.fault_rules import FaultEngine, Transition
from drivers.modbus.taxonomy import KINDS

if TYPE_CHECKING:
    from agent.status import DeviceBoard

log = logging.getLogger(__name__)

Emit = Callable[[Event], Awaitable[None]]
# taxonomy category -> the data model of ``elevator.<category>``
_EPISODE_MODELS: dict[str, type[ElevatorAlarm | ElevatorFault | ElevatorEvent]] = {
    "alarm": ElevatorAlarm, "fault": ElevatorFault, "event": ElevatorEvent,
}  # fmt: skip
Persist = Callable[[], Awaitable[None]]

BUS_UNAVAILABLE = "bus_unavailable"  # offline reason when the port or TCP peer is gone


@dataclass(frozen=True, slots=True)
class DeviceOptions:
    """Per-device settings from the config and the profile."""

    offline_after_polls: int = 3
    status_interval_s: float = 60.0
    fault_code_prefix: str = ""
    extra_keys: frozenset[str] = frozenset()


class ElevatorDevice:
    """Keeps one device's latest values, health and fault episodes."""

    def __init__(
        self,
        *,
        device_id: str,
        unit_id: int,
        engine: FaultEngine,
        emit: Emit,
        options: DeviceOptions = DeviceOptions(),
        persist: Persist | None = None,
        persist_comm: Persist | None = None,
    ) -> None:
        self.device_id = device_id
        self.unit_id = unit_id
        self.online: bool | None = None
        self._engine = engine
        self._emit = emit
        self._offline_after = options.offline_after_polls
        self._status_interval = options.status_interval_s
        self._prefix = options.fault_code_prefix
        self._extra_keys = options.extra_keys
        self._persist = persist
        self._persist_comm = persist_comm
        self.comm_episode: str | None = None  # the open COMM_LOST episode, while offline
        self.offline_reason = ""
        self._values: dict[str, Any] = {}
        self._failures = 0
        self._last_failure: ReadError | None = None
        self._episodes: dict[str, str] = {}
        self._last_state: tuple[Any, ...] | None = None
        self._last_status_at: float | None = None
        self._mode: str | None = None
        self.snapshot: ElevatorSnapshot | None = None
        # The agent's live status (agent/status.py), set by the driver: (board, driver name).
        self.board: tuple[DeviceBoard, str] | None = None

    def restore(self, episodes: list[OpenEpisode]) -> None:
        """Take over episodes raised before a restart (see drivers/modbus/episode_store.py)."""
        for ep in episodes:
            if self._engine.restore(ep.key, ep.source, ep.code):
                self._episodes[ep.key] = ep.episode
                log.info("%s %s still raised from before the restart", self.device_id, ep.key)
            else:
                log.warning(
                    "%s %s: saved %s episode no longer fits the profile; dropped",
                    self.device_id, ep.key, ep.source,
                )  # fmt: skip

    def restore_offline(self, episode: str, reason: str) -> None:
        """Reported offline before a restart: no second alarm, and ``online`` when it answers."""
        self.online = False
        self.comm_episode, self.offline_reason = episode, reason
        log.info("%s (unit %d) still offline from before the restart", self.device_id, self.unit_id)

    def open_episodes(self) -> list[OpenEpisode]:
        out: list[OpenEpisode] = []
        for key, episode in sorted(self._episodes.items()):
            source, code = self._engine.origin(key)
            out.append(OpenEpisode(key, episode, source, code))
        return out

    def _event(self, kind: str, data: dict[str, Any], priority: Priority, sev: Severity) -> Event:
        return Event(type=f"elevator.{kind}", subject=self.device_id, data=data,
                     priority=priority, severity=sev)  # fmt: skip

    async def on_poll(
        self, group: str, values: dict[str, Any] | None, failure: ReadError | None, now: float
    ) -> None:
        if values is None:
            await self._failed(failure)
            return
        self._failures = 0
        if self.online is not True:
            await self._came_online()
        if self.board is not None:
            self.board[0].seen(self.board[1], self.device_id, unit_id=self.unit_id)
        self._values.update(values)
        await self._evaluate(now)

    async def _failed(self, failure: ReadError | None) -> None:
        self._failures += 1
        self._last_failure = failure
        if self._failures < self._offline_after or self.online is False:
            return
        log.warning(
            "%s (unit %d) offline after %d failed polls: %s",
            self.device_id, self.unit_id, self._failures, failure,
        )  # fmt: skip
        extra: dict[str, Any] = {"failed_polls": self._failures}
        if isinstance(failure, ExceptionReplyError):
            extra["exception_code"] = failure.code
        await self._went_offline(failure.kind if failure else "error", str(failure), **extra)

    async def bus_unavailable(self, error: str) -> None:
        """The whole bus is gone (port missing, TCP refused) past this lift's hold."""
        if self.online is False:
            return
        log.warning("%s (unit %d) offline: bus unavailable", self.device_id, self.unit_id)
        await self._went_offline(BUS_UNAVAILABLE, error, failed_polls=self._failures, error=error)

    async def _went_offline(self, reason: str, why: str, **extra: Any) -> None:
        self.online = False
        self._engine.forget_pending()
        if self.board is not None:
            self.board[0].report(self.board[1], self.device_id, "offline", reason=why)
        self.comm_episode, self.offline_reason = uuid7(), reason
        data = ElevatorHealth(state="offline", reason=reason, unit_id=self.unit_id,
                              key="COMM_LOST", episode=self.comm_episode,
                              **extra).to_data()  # fmt: skip
        await self._emit(self._event("health", data, Priority.ALARM, Severity.CRITICAL))
        if self._persist_comm is not None:
            await self._persist_comm()

    async def _came_online(self) -> None:
        was_offline = self.online is False
        self.online = True
        if self.board is not None:
            self.board[0].report(self.board[1], self.device_id, "online")
        if not was_offline:
            log.info("%s (unit %d) answering", self.device_id, self.unit_id)
            return
        log.info("%s (unit %d) back online", self.device_id, self.unit_id)
        episode = self.comm_episode or uuid7()
        data = ElevatorHealth(state="online", reason="answering_again", unit_id=self.unit_id,
                              key="COMM_LOST", episode=episode).to_data()  # fmt: skip
        self.comm_episode, self.offline_reason = None, ""
        await self._emit(self._event("health", data, Priority.ALARM, Severity.INFO))
        if self._persist_comm is not None:
            await self._persist_comm()

    async def _evaluate(self, now: float) -> None:
        snap = build_snapshot(self._values)
        self.snapshot = snap
        if snap.service_mode != self._mode:
            if self._mode is not None:
                change = ElevatorMode.model_validate(
                    {"from": self._mode, "to": snap.service_mode}
                ).to_data()
                await self._emit(self._event("mode", change, Priority.EVENT, Severity.INFO))
            self._mode = snap.service_mode
        transitions = self._engine.update(snap, now)
        for t in transitions:
            await self._emit(self._fault_event(t, snap))
        if transitions and self._persist is not None:
            # After the events are stored: a crash in between repeats a raise (the
            # platform de-duplicates by key and episode), it never loses one.
            await self._persist()
        state = snap.state_key()
        due = self._last_status_at is None or now - self._last_status_at >= self._status_interval
        if state != self._last_state or due:
            self._last_state, self._last_status_at = state, now
            extra = {k: self._values[k] for k in self._extra_keys if k in self._values}
            status = ElevatorStatus(**snap.to_data(), **extra, active=self._engine.active())
            data = status.to_data()
            await self._emit(self._event("status", data, Priority.TELEMETRY, Severity.INFO))

    def _fault_event(self, t: Transition, snap: ElevatorSnapshot) -> Event:
        kind = KINDS[t.key]
        if t.raised:
            episode = self._episodes[t.key] = uuid7()
        else:
            episode = self._episodes.pop(t.key, "")
        fault = _EPISODE_MODELS[kind.category](
            key=t.key, state="raised" if t.raised else "cleared", episode=episode,
            label_zh=kind.label_zh, source=t.source, gb_code=kind.gb_code,
            sh_code=kind.sh_code, snapshot=snap,
        )  # fmt: skip
        if t.raised and t.source == "derived":
            fault.held_s = t.held_s
        if not t.raised:
            fault.reason = t.reason
        if t.code is not None:
            fault.controller_code = t.code
            fault.controller_label = f"{self._prefix}{t.code:02d}"
        log.info("%s %s %s", self.device_id, t.key, fault.state)
        severity = kind.severity if t.raised else Severity.INFO
        return self._event(kind.category, fault.to_data(), kind.priority, severity)
