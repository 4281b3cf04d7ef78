"""A simulated elevator car: trips, doors and passengers, plus scripted fault overlays.

Time is simulation seconds (wall time times ``--speed``), advanced in fixed ticks, so a
scenario is reproducible and its hold times compress with the speed factor. The traffic
pattern never trips a derived rule on its own (doors open < 10 s, every stop is at
level, nobody stays in a closed car), so each scripted step produces exactly its own
events. Overlay steps freeze the traffic and force snapshot fields for a while.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from drivers.modbus.simulator.scenarios import Scenario, Step

TICK_S = 0.1
_RUN_S_PER_FLOOR = 2.0
_PHASES = {"idle": 3.0, "opening": 2.0, "open": 4.0, "closing": 2.0}
_DOOR = {"idle": "closed", "opening": "opening", "open": "open", "closing": "closing",
         "run": "closed"}  # fmt: skip


@dataclass
class Counters:
    run_count: int = 0
    door_cycles: int = 0


@dataclass
class ElevatorModel:
    """Traffic between ``bottom_floor`` and ``top_floor`` with a scenario on top."""

    scenario: Scenario
    seed: int = 1
    bottom_floor: int = 1
    top_floor: int = 10
    rated_speed_mps: float = 1.0
    now: float = 0.0
    phase: str = "idle"
    phase_left: float = _PHASES["idle"]
    floor: int = 1
    target: int = 1
    position: float = 1.0
    passenger: bool = False
    counters: Counters = field(default_factory=Counters)
    step_index: int = -1  # -1: lead-in traffic
    step_started: float | None = None
    reads_in_step: int = 0
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self.floor = self.target = self.bottom_floor
        self.position = float(self.floor)

    # -- scenario --------------------------------------------------------------------

    @property
    def step(self) -> Step | None:
        steps = self.scenario.steps
        return steps[self.step_index] if 0 <= self.step_index < len(steps) else None

    @property
    def finished(self) -> bool:
        """The script is over (lead-in done, every step run); only traffic remains."""
        return self.now >= self.scenario.lead_s and self.step_index >= len(self.scenario.steps)

    @property
    def active_step(self) -> Step | None:
        """The step whose overlay applies now (started, not finished)."""
        return self.step if self.step_started is not None else None

    def _advance_script(self) -> None:
        if self.step_index == -1:
            if self.now < self.scenario.lead_s:
                return
            self.step_index, self.step_started = 0, None
        step = self.step
        if step is None:
            return
        if self.step_started is None:
            if step.wait_for is None or step.wait_for == self._traffic_state():
                self.step_started, self.reads_in_step = self.now, 0
            return
        if self.now - self.step_started >= step.duration_s and self.reads_in_step >= step.min_reads:
            self.step_index += 1
            self.step_started = None
            self._advance_script()

    def note_read(self) -> None:
        """A read was answered from the current state (counts toward ``min_reads``)."""
        self.reads_in_step += 1

    def _traffic_state(self) -> str:
        return "running" if self.phase == "run" else self.phase

    # -- traffic ---------------------------------------------------------------------

    def advance_to(self, t: float) -> None:
        while self.now + TICK_S <= t:
            self.now += TICK_S
            self._advance_script()
            step = self.active_step
            if step is None or not step.freeze:
                self._tick_traffic()

    def _tick_traffic(self) -> None:
        if self.phase == "run":
            direction = 1 if self.target > self.floor else -1
            self.position += direction * TICK_S / _RUN_S_PER_FLOOR
            if direction * (self.position - self.target) >= 0:
                self.position = float(self.target)
                self.floor = self.target
                self._enter("idle")
            else:
                self.floor = round(self.position)
            return
        self.phase_left -= TICK_S
        if self.phase_left > 1e-9:
            return
        nxt = {"idle": "opening", "opening": "open", "open": "closing", "closing": "run"}
        self._enter(nxt[self.phase])

    def _enter(self, phase: str) -> None:
        self.phase = phase
        self.phase_left = _PHASES.get(phase, 0.0)
        if phase == "open":
            self.counters.door_cycles += 1
            # People leave and board while the door is open.
            self.passenger = self._rng.random() < 0.6
        if phase == "run":
            choices = [f for f in range(self.bottom_floor, self.top_floor + 1) if f != self.floor]
            self.target = self._rng.choice(choices)
            self.counters.run_count += 1

    # -- what the controller would report --------------------------------------------

    def values(self) -> dict[str, Any]:
        """Snapshot-named values (see elevator_state) plus vendor extras, overlay applied."""
        running = self.phase == "run"
        direction = "none"
        if running:
            direction = (
                "up"
                if self.target > self.floor
                or (self.target == self.floor and self.position < self.target)
                else "down"
            )
        v: dict[str, Any] = {
            "service_mode": "normal",
            "running": running,
            "direction": direction,
            "floor": self.floor,
            "door_zone": not running,
            "door": _DOOR[self.phase],
            "passenger": self.passenger,
            "speed_mps": self.rated_speed_mps * 0.95 if running else 0.0,
            "load_pct": 30 if self.passenger else 0,
            "power_on_mains": True,
            "safety_circuit_ok": True,
            "door_lock_circuit_ok": True,
            "alarm_button": False,
            "controller_fault": 0,
            "top_floor": self.top_floor,
            "bottom_floor": self.bottom_floor,
            "rated_speed_mps": self.rated_speed_mps,
        }
        step = self.active_step
        if step is not None:
            v.update(step.overrides)
        if v["direction"] == "none" and v["running"]:
            v["direction"] = "up"
        v.update(self._extras(v))
        return v

    def _extras(self, v: dict[str, Any]) -> dict[str, Any]:
        code = int(v["controller_fault"])
        return {
            "protocol_version": 0x0100,
            "heartbeat": int(self.now) & 0xFFFF,
            "door_closed": v["door"] == "closed",
            "door_locked": v["door"] == "closed",
            "run_count": self.counters.run_count,
            "run_hours": int(self.now // 3600),
            "door_cycles": self.counters.door_cycles,
            "position_m": max(0.0, (self.position - self.bottom_floor) * 3.0),
            "fault_flag": code != 0,
            "controller_fault_raw": code * 100,
            "cic_link_ok": True,
            "hall_locked": False,
            "non_door_zone_stop": not v["door_zone"] and not v["running"],
            "bus_voltage_v": 540.0,
            "motor_rpm": 1450 if v["running"] else 0,
        }
