"""The ``modbus`` driver: one bus, its elevators, one scheduler; read-only.

No retry loop for the whole bus: if the port cannot be opened or the TCP peer goes away,
``run`` raises :class:`DriverError` and the supervisor restarts it with backoff
(agent/driver.py), which reports ``gateway.health failing`` once (a warning). Before it
raises, every lift on the dead bus gets its own ``COMM_LOST`` alarm once the bus has
been gone for that lift's hold (issue 11 finding 2): the driver waits out the rest of
the hold, tries the bus once more (a blip is not an alarm), and only then reports. The
supervisor's backoff (up to minutes) must not delay the alarm that says a lift is
unwatched. Per-device silence on a live bus is handled inside the running scheduler.
Which lifts are offline is kept on disk (drivers/modbus/comm_state.py); the hold runs on
the monotonic clock, so a wall-clock step cannot move the alarm (drivers/modbus/bus_down.py).
"""

from __future__ import annotations

import asyncio
import logging

from agent.actuator import ActuatorError
from agent.driver import DriverContext, DriverError, EventSink
from agent.status import device_board
from drivers.modbus.bus_down import BusDown, Clocks
from drivers.modbus.client import LinkSettings, ModbusLink
from drivers.modbus.comm_state import CommState, CommStore, Offline
from drivers.modbus.config import ModbusConfig, ModbusDeviceConfig
from drivers.modbus.elevator_device import DeviceOptions, ElevatorDevice
from drivers.modbus.elevator_state import ElevatorSnapshot
from drivers.modbus.episode_store import EpisodeStore
from drivers.modbus.errors import BusUnavailableError, ReadError
from drivers.modbus.fault_rules import FaultEngine, RuleSettings
from drivers.modbus.planner import describe, plan_profile
from drivers.modbus.profile import Profile, ProfileError, load_profile
from drivers.modbus.scheduler import BusScheduler, PollJob
from drivers.modbus.taxonomy import KINDS

log = logging.getLogger(__name__)

_SNAPSHOT_KEYS = frozenset(ElevatorSnapshot.model_fields)
_EARLY_S = 0.001


def _load(device: ModbusDeviceConfig) -> Profile:
    try:
        profile = load_profile(device.profile)
    except ProfileError as exc:
        raise DriverError(f"device {device.id}: {exc}") from None
    unknown = sorted(set(device.holds_s) - set(KINDS))
    if unknown:
        raise DriverError(f"device {device.id}: holds_s has unknown keys {unknown}")
    groups = sorted(set(device.poll_periods_ms) - set(profile.poll_groups))
    if groups:
        raise DriverError(f"device {device.id}: poll_periods_ms names unknown groups {groups}")
    return profile


def make_link(c: ModbusConfig) -> ModbusLink:
    """The bus link an entry describes (the driver's, and ``diag``'s one-read probe)."""
    return ModbusLink(
        LinkSettings(
            transport=c.transport, timeout_s=c.request_timeout_ms / 1000, host=c.host,
            port=c.port, serial_port=c.serial_port, baudrate=c.baudrate,
            parity=c.parity, stopbits=c.stopbits, bytesize=c.bytesize,
        )
    )  # fmt: skip


class ModbusDriver:
    """Polls every configured device on one bus and emits elevator events."""

    def __init__(
        self, config: ModbusConfig, context: DriverContext, clocks: Clocks | None = None
    ) -> None:
        self.name = config.name
        self._config = config
        self._context = context
        self.scheduler: BusScheduler | None = None
        self.devices: dict[str, ElevatorDevice] = {}
        self._episodes = EpisodeStore(context.state_dir, config.name)
        self._comm_store = CommStore(context.state_dir, config.name)
        self._comm = CommState()
        self._holds: dict[str, float] = {}  # device id -> seconds of bus loss before COMM_LOST
        self._saving = asyncio.Lock()
        self._link_open: ModbusLink | None = None  # while run() has the bus
        # In the agent's shared resources: the outage's monotonic start outlives this
        # object, which the supervisor replaces after each DriverError.
        self._down = context.shared.get_or_create(
            f"modbus.bus_down.{config.name}", lambda: BusDown(clocks or Clocks())
        )

    # -- named outputs (agent/actuator.py): the only writes, and only these addresses --

    def output_names(self) -> tuple[str, ...]:
        return tuple(self._config.outputs)

    async def activate(self, name: str) -> None:
        output = self._config.outputs.get(name)
        if output is None:
            raise ActuatorError(f"{self.name}: no output {name!r}")
        link = self._link_open
        if link is None:
            raise ActuatorError(f"{self.name}: bus not connected")
        table, address = ("coil", output.coil) if output.coil is not None else (
            "holding", output.holding)  # fmt: skip
        assert address is not None  # one of the two, by the config's validator
        try:
            await link.write(output.unit_id, table, address, output.value)
        except (ReadError, BusUnavailableError) as exc:
            raise ActuatorError(f"{self.name}: output {name}: {exc}") from None
        log.info("%s: output %s switched (unit %d %s %d)", self.name, name, output.unit_id,
                 table, address)  # fmt: skip

    async def _save_episodes(self) -> None:
        """Write every device's open episodes (off the loop; one save at a time)."""
        async with self._saving:
            state = {dev_id: dev.open_episodes() for dev_id, dev in self.devices.items()}
            try:
                await asyncio.to_thread(self._episodes.save, state)
            except OSError as exc:
                # The events themselves are safe in the outbox; only a restart would
                # repeat a raise. Not a reason to stop polling elevators.
                log.error("could not save fault episodes to %s: %s", self._episodes.path, exc)

    async def _save_comm(self) -> None:
        """Write which lifts are offline and since when the bus is down (off the loop)."""
        async with self._saving:
            self._comm.offline = {
                dev_id: Offline(dev.comm_episode, dev.offline_reason)
                for dev_id, dev in self.devices.items()
                if dev.online is False and dev.comm_episode is not None
            }
            try:
                await asyncio.to_thread(self._comm_store.save, self._comm)
            except OSError as exc:
                # Only a restart would repeat an offline alarm or miss an online event.
                log.error("could not save communication state to %s: %s",
                          self._comm_store.path, exc)  # fmt: skip

    def _link(self) -> ModbusLink:
        return make_link(self._config)

    def _device(self, dc: ModbusDeviceConfig, profile: Profile, sink: EventSink) -> ElevatorDevice:
        settings = RuleSettings(
            holds_s=dc.holds_s, passenger_hold_s=dc.passenger_hold_s, speed=dc.time_speed,
            top_floor=dc.top_floor, bottom_floor=dc.bottom_floor,
            rated_speed_mps=dc.rated_speed_mps,
        )  # fmt: skip
        return ElevatorDevice(
            device_id=dc.id, unit_id=dc.unit_id,
            engine=FaultEngine(settings, profile.fault_codes), emit=sink.emit,
            options=DeviceOptions(
                offline_after_polls=dc.offline_after_polls,
                status_interval_s=dc.status_interval_s,
                fault_code_prefix=profile.fault_code_prefix,
                extra_keys=frozenset(p.key for p in profile.points) - _SNAPSHOT_KEYS,
            ),
            persist=self._save_episodes, persist_comm=self._save_comm,
        )  # fmt: skip

    def _jobs(self, sink: EventSink) -> list[PollJob]:
        jobs: list[PollJob] = []
        saved = self._episodes.load()
        self._comm = self._comm_store.load()
        for dc in self._config.devices:
            profile = _load(dc)
            limits = profile.limits
            if dc.max_registers_per_read is not None:
                limits = limits.model_copy(
                    update={"max_registers_per_read": dc.max_registers_per_read}
                )
            pause_ms = dc.pause_between_requests_ms
            if pause_ms is None:
                pause_ms = limits.pause_between_requests_ms
            plan = plan_profile(profile, limits)
            log.info("%s unit %d (%s): %s", dc.id, dc.unit_id, profile.name, describe(plan))
            device = self._device(dc, profile, sink)
            device.restore(saved.pop(dc.id, []))
            board = device_board(self._context.shared)
            board.report(self.name, dc.id, "unknown", reason="not polled yet")
            device.board = (board, self.name)
            offline = self._comm.offline.pop(dc.id, None)
            if offline is not None:
                device.restore_offline(offline.episode, offline.reason)
            self.devices[dc.id] = device
            first = True
            for group, requests in plan.items():
                if not requests:
                    continue
                period_ms = dc.poll_periods_ms.get(group, profile.poll_groups[group].period_ms)
                period = period_ms / 1000
                if first:
                    # The time its N failed polls would take: the hold before COMM_LOST
                    # when the whole bus is gone and no poll can even be sent.
                    step = max(period, self._config.request_timeout_ms / 1000)
                    self._holds[dc.id] = dc.offline_after_polls * step
                jobs.append(PollJob(device, group, period, requests, pause_ms / 1000, first))
                first = False
        for gone in saved:
            log.warning("fault episodes saved for %s, which is no longer configured: dropped", gone)
        for gone in self._comm.offline:
            log.warning("%s was saved offline but is no longer configured: dropped", gone)
        return jobs

    async def run(self, sink: EventSink) -> None:
        jobs = self._jobs(sink)
        link = self._link()
        connected = False
        try:
            while True:
                try:
                    if not connected:
                        await link.connect()
                    connected = False
                    self._link_open = link  # for the named outputs (agent/actuator.py)
                    await self._bus_up()
                    if not jobs:  # a bus with outputs only (a siren's relay box): stay up
                        await asyncio.Event().wait()
                    self.scheduler = BusScheduler(
                        link,
                        jobs,
                        pause_s=self._config.pause_between_requests_ms / 1000,
                        offline_probe_s=self._config.offline_probe_interval_ms / 1000,
                    )
                    await self.scheduler.run()
                except BusUnavailableError as exc:
                    # Back within the hold: poll on; else every lift is alarmed and the
                    # supervisor takes over (its backoff, its gateway.health report).
                    connected = await self._bus_down(link, str(exc))
                    if not connected:
                        raise DriverError(str(exc)) from None
        finally:
            self._link_open = None
            link.close()

    async def _bus_up(self) -> None:
        self._down.clear()
        if self._comm.bus_down_since is not None:
            log.info("bus %s usable again", self.name)
            self._comm.bus_down_since = None
            await self._save_comm()

    async def _note_down(self, error: str) -> None:
        """Start the outage's monotonic clock: now, or from the stamp an earlier process saved."""
        if self._down.known:  # this process saw it begin: its start is exact
            return
        saved = self._comm.bus_down_since
        if saved is None:
            self._comm.bus_down_since = self._down.begin()
            log.warning("bus %s unusable: %s", self.name, error)
        else:
            stamp = self._down.resume(saved, max(self._holds.values(), default=0.0))
            if stamp == saved:
                return
            self._comm.bus_down_since = stamp
        await self._save_comm()

    async def _bus_down(self, link: ModbusLink, error: str) -> bool:
        """The bus is unusable: True if it is back within the hold, else alarm every lift.

        Each lift still online gets its own ``COMM_LOST`` once the bus has been gone for
        its hold, counted from the first failure even across driver restarts. Lifts
        already reported offline (here or before a restart) are not reported again.
        """
        await self._note_down(error)
        waiting = {i: d for i, d in self.devices.items() if d.online is not False}
        if not waiting:
            return False
        first_due = min(self._holds.get(i, 0.0) for i in waiting)
        await self._down.clocks.sleep(max(0.0, first_due - self._down.elapsed()))
        try:
            await link.connect()
        except BusUnavailableError as exc:
            error = str(exc)
        else:
            return True
        # A timer may fire a clock tick early; that must not cost a restart's backoff.
        gone = self._down.elapsed() + _EARLY_S
        for dev_id, device in waiting.items():
            if gone >= self._holds.get(dev_id, 0.0):
                await device.bus_unavailable(error)
        return False
