"""Derive taxonomy faults from snapshots: hold times, raise/clear episodes, suppression.

Rules and default holds come from research domain-devices.md §1.4 and §2.2 (engine rules
1-4): inspection suppresses every fault and alarm, each key is raised once per episode
and cleared when its condition ends, person presence is debounced, and controller codes
are authoritative over derived rules for the keys a profile maps them to. Time is the
caller's monotonic clock, so tests and the simulator's ``--speed`` can compress holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from agent.episodes import EpisodeTracker
from drivers.modbus.elevator_state import ElevatorSnapshot
from drivers.modbus.taxonomy import KINDS

Condition = Callable[[ElevatorSnapshot, "FaultEngine"], bool]


@dataclass(frozen=True, slots=True)
class Transition:
    """A key starting (``raised``) or ending an episode."""

    key: str
    raised: bool
    source: str  # "derived" | "controller"
    held_s: float = 0.0
    code: int | None = None
    # Why a clear happened (docs/modbus.md "Clear reasons"); empty on a raise.
    reason: str = ""


def _closed(s: ElevatorSnapshot) -> bool:
    return s.door == "closed"


def _stopped(s: ElevatorSnapshot) -> bool:
    return s.running is False


def _entrap_level(s: ElevatorSnapshot, e: FaultEngine) -> bool:
    """A passenger behind a closed door at a floor (平层困人), in every service mode.

    A person can be inside in normal service, on emergency power after a mains failure
    (the textbook entrapment), with the car stopped or the controller in fault, in fire
    service phase 2 and in an earthquake stop, so the mode is not part of the condition:
    the §2.2 table's "mode NORMAL" is dropped because liftcheck.c [S10] (§1.4) evaluates
    平层关人 in every mode but inspection. Suppression happens only in inspection
    (maintenance), where the standard's person in the car is the technician (§2.2
    engine rule 1, [S9], [S10]) - see ``FaultEngine.update``.
    """
    return bool(e.passenger and _closed(s) and s.door_zone is True and _stopped(s))


def _entrap_nonlevel(s: ElevatorSnapshot, e: FaultEngine) -> bool:
    return bool(e.passenger and _closed(s) and s.door_zone is False and _stopped(s))


def _at_top(s: ElevatorSnapshot, e: FaultEngine) -> bool:
    top = s.top_floor if s.top_floor is not None else e.top_floor
    return s.floor is not None and top is not None and s.floor >= top


def _at_bottom(s: ElevatorSnapshot, e: FaultEngine) -> bool:
    bottom = s.bottom_floor if s.bottom_floor is not None else e.bottom_floor
    return s.floor is not None and bottom is not None and s.floor <= bottom


def _heading(s: ElevatorSnapshot, e: FaultEngine, way: str, end: str) -> bool:
    # Controllers drop the direction once the final limit trips and the car stops, so a
    # car also counts as heading ``way`` when it was seen leaving the terminal landing's
    # door zone outwards (``e.beyond``, issue 11 finding 3). A car merely stopped between
    # the last two floors (its floor already reading the terminal one) never passed that
    # zone: it stays a stop out of zone.
    return s.direction == way or e.beyond == end


def _overtravel_top(s: ElevatorSnapshot, e: FaultEngine) -> bool:
    """冲顶: at/above the top landing out of the zone heading up (liftcheck.c, §1.4)."""
    return _at_top(s, e) and s.door_zone is False and _heading(s, e, "up", "top")


def _overtravel_bottom(s: ElevatorSnapshot, e: FaultEngine) -> bool:
    """蹲底: at/below the bottom landing out of the zone heading down (§1.4)."""
    return _at_bottom(s, e) and s.door_zone is False and _heading(s, e, "down", "bottom")


def _stop_out_of_zone(s: ElevatorSnapshot, e: FaultEngine) -> bool:
    # The more specific entrapment/overtravel report replaces this one (liftcheck.c).
    busy = {"ENTRAP_NONLEVEL", "OVERTRAVEL_TOP", "OVERTRAVEL_BOTTOM"}
    if any(e.is_active(k) or e.is_pending(k) for k in busy):
        return False
    return _stopped(s) and s.door_zone is False


# Doors may open while the car moves inside the unlocking zone for levelling, re-levelling
# and early (pre-)opening up to 0.8 m/s (EN 81-20 §5.12.1.4 / GB 7588-2003 §7.7.2.2 and
# §14.2.1.2; recalled, [UNVERIFIED] like domain-devices.md §1.4 "Physical limits";
# re-levelling itself is limited to 0.3 m/s). The speed is the snapshot's ``speed_mps``.
LEVELLING_SPEED_MAX_MPS = 0.8


def _door_open_running(s: ElevatorSnapshot, e: FaultEngine) -> bool:
    """运行中开门 (§2.2): door not closed while running, except levelling in the zone."""
    if s.running is not True or s.door not in ("open", "opening"):
        return False
    levelling = (
        s.door_zone is True and s.speed_mps is not None
        and abs(s.speed_mps) <= LEVELLING_SPEED_MAX_MPS
    )  # fmt: skip
    return not levelling


def _overspeed(s: ElevatorSnapshot, e: FaultEngine) -> bool:
    rated = s.rated_speed_mps or e.rated_speed_mps
    return bool(rated and s.speed_mps is not None and abs(s.speed_mps) > 1.2 * rated)


def _ucm(s: ElevatorSnapshot, e: FaultEngine) -> bool:
    # Door open and the car leaves the zone (EN 81-20 3.62); stays until back in zone.
    prev = e.previous
    left_zone = prev is not None and prev.door_zone is True and prev.door == "open"
    return s.door == "open" and s.door_zone is False and (left_zone or e.is_active("UCM"))


def _door_close_fail(s: ElevatorSnapshot, e: FaultEngine) -> bool:
    # Fire return (phase 1) parks the car at the fire landing with its doors open on
    # purpose (EN 81-72 [UNVERIFIED]); an open door there is the expected state.
    if s.service_mode == "fire_return":
        return False
    return s.door in ("open", "opening", "closing")


RULES: dict[str, Condition] = {
    "ENTRAP_LEVEL": _entrap_level,
    "ENTRAP_NONLEVEL": _entrap_nonlevel,
    "ALARM_BUTTON": lambda s, e: s.alarm_button is True,
    "OVERTRAVEL_TOP": _overtravel_top,
    "OVERTRAVEL_BOTTOM": _overtravel_bottom,
    "OVERSPEED": _overspeed,
    "DOOR_OPEN_RUNNING": _door_open_running,
    "UCM": _ucm,
    "SAFETY_CIRCUIT": lambda s, e: s.safety_circuit_ok is False,
    "DOOR_LOCK_CIRCUIT": lambda s, e: s.door_lock_circuit_ok is False and s.running is True,
    "DOOR_CLOSE_FAIL": _door_close_fail,
    "POWER_LOSS": lambda s, e: s.power_on_mains is False,
    "STOP_OUT_OF_ZONE": _stop_out_of_zone,  # last: it looks at the others' state
}


@dataclass
class RuleSettings:
    """Per-device tuning. ``speed`` divides every hold (simulator ``--speed``)."""

    holds_s: Mapping[str, float] = field(default_factory=dict)
    passenger_hold_s: float = 10.0
    speed: float = 1.0
    top_floor: int | None = None
    bottom_floor: int | None = None
    rated_speed_mps: float | None = None

    def hold(self, key: str) -> float:
        return self.holds_s.get(key, KINDS[key].hold_s) / self.speed


class FaultEngine:
    """Feeds snapshots through the rules; returns the raise/clear transitions."""

    def __init__(self, settings: RuleSettings, controller_codes: Mapping[int, str]) -> None:
        self._settings = settings
        self._codes = dict(controller_codes)
        # Keys the controller reports itself: their derived rules are switched off.
        self._controller_keys = frozenset(self._codes.values())
        # The raise/clear lifecycle is shared (agent/episodes.py); the origin of each
        # raised key (derived rule or controller code) is this engine's own.
        self._tracker = EpisodeTracker(KINDS)
        self._origin: dict[str, tuple[str, int | None]] = {}
        self._restored: set[str] = set()  # restored keys not yet seen by a reading
        self.previous: ElevatorSnapshot | None = None
        self.beyond: str | None = None  # "top"/"bottom": left that landing's zone outwards
        self.passenger: bool | None = None
        self._passenger_candidate: bool | None = None
        self._passenger_since = 0.0
        self.top_floor = settings.top_floor
        self.bottom_floor = settings.bottom_floor
        self.rated_speed_mps = settings.rated_speed_mps

    def is_active(self, key: str) -> bool:
        return self._tracker.is_active(key)

    def is_pending(self, key: str) -> bool:
        return self._tracker.is_pending(key)

    def active(self) -> list[str]:
        return self._tracker.active()

    def origin(self, key: str) -> tuple[str, int | None]:
        """(source, controller code) of ``key``'s current episode."""
        return self._origin.get(key, ("derived", None))

    def restore(self, key: str, source: str, code: int | None) -> bool:
        """Mark ``key`` raised (after a restart), with its hold already served.

        The next reading continues the episode if its condition still holds, or clears
        it. Refused (False) when the profile now handles the key the other way (a
        derived episode of a key the controller reports itself): nothing would clear it.
        """
        if source == "derived" and key in self._controller_keys:
            return False
        self._tracker.restore(key)
        self._origin[key] = (source, code)
        self._restored.add(key)
        return True

    def forget_pending(self) -> None:
        """Restart every hold timer: a condition must not be 'held' across a data gap.

        Called when the device goes offline. Raised episodes stay raised; they clear
        when fresh data shows the condition gone.
        """
        self._tracker.forget_pending()
        self.previous = None
        self.beyond = None
        self.passenger = self._passenger_candidate = None

    def _debounce_passenger(self, value: bool | None, now: float) -> None:
        # PIR sensors flicker; a person cannot appear or vanish in a closed car (§1.4).
        if value != self._passenger_candidate:
            self._passenger_candidate = value
            self._passenger_since = now
        hold = self._settings.passenger_hold_s / self._settings.speed
        if self.passenger is None or now - self._passenger_since >= hold:
            self.passenger = self._passenger_candidate

    def update(self, snap: ElevatorSnapshot, now: float) -> list[Transition]:
        self._debounce_passenger(snap.passenger, now)
        suppressed = snap.service_mode == "inspection"
        out: list[Transition] = []
        out.extend(self._controller(snap, now, suppressed))
        for key, rule in RULES.items():
            if key in self._controller_keys:
                continue
            out.extend(self._step(key, rule(snap, self), now, suppressed))
        self._restored.clear()
        self._track_beyond(snap)
        self.previous = snap
        return out

    def _track_beyond(self, s: ElevatorSnapshot) -> None:
        prev = self.previous
        if s.door_zone is True:
            self.beyond = None
        elif prev is not None and prev.door_zone is True and s.door_zone is False:
            moving = {s.direction, prev.direction}
            if _at_top(s, self) and _at_top(prev, self) and "up" in moving:
                self.beyond = "top"
            elif _at_bottom(s, self) and _at_bottom(prev, self) and "down" in moving:
                self.beyond = "bottom"

    def _reason(self, key: str, suppressed: bool, default: str) -> str:
        if suppressed:
            return "inspection_started"
        return "restart_reconciled" if key in self._restored else default

    def _step(self, key: str, condition: bool, now: float, suppressed: bool) -> list[Transition]:
        held = condition and not suppressed
        step = self._tracker.step(key, held, now, self._settings.hold(key))
        if step is None:
            return []
        self._origin[key] = ("derived", None)
        if step.raised:
            return [Transition(key, True, "derived", held_s=step.held_s)]
        return [
            Transition(
                key, False, "derived", reason=self._reason(key, suppressed, "condition_ended")
            )
        ]

    def _controller(self, snap: ElevatorSnapshot, now: float, suppressed: bool) -> list[Transition]:
        code = snap.controller_fault
        if code is None:
            return []  # unknown this poll: keep the current state
        wanted = None if suppressed or code == 0 else self._codes.get(code, "CTRL_FAULT")
        out: list[Transition] = []
        for key in self._tracker.active():
            source, was = self.origin(key)
            if source == "controller" and (key != wanted or was != code):
                self._tracker.clear(key)
                why = "controller_reset" if code == 0 else "controller_code_changed"
                reason = self._reason(key, suppressed, why)
                out.append(Transition(key, False, "controller", code=was, reason=reason))
        if wanted is not None and self._tracker.raise_now(wanted, now) is not None:
            self._origin[wanted] = ("controller", code)
            out.append(Transition(wanted, True, "controller", code=code))
        return out
