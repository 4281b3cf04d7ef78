"""Scenario scripts for ``edge-agent simulate wearable``: timed frames per device.

Times are simulated seconds from the start; the runner compresses them by ``--speed``.
Values are chosen to land clearly inside the research domain-devices.md §5 bands, so
each scenario yields a known set of episodes (tests/serial/test_scenarios.py).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from drivers.serial.codec_5359 import encode_frame as radar_frame
from drivers.serial.codec_bracelet import (
    CMD_EVENT,
    CMD_STATUS,
    EVENT_CODES,
    encode_frame,
    status_tlvs,
    tlv,
)

STATUS_PERIOD_S = 60.0


@dataclass(frozen=True, slots=True)
class Step:
    t: float
    frame: bytes
    dev: int = 0
    seq: int | None = None  # an edge event: retried until ACKed


@dataclass
class _Bracelet:
    dev: int
    seq: int = 0
    steps: int = 1000

    def status(self, t: float, hr: int = 72, spo2: int = 97, temp: float = 36.5,
               battery: int = 80, wear: bool = True) -> Step:  # fmt: skip
        self.seq = (self.seq + 1) & 0xFF
        tl = status_tlvs(hr=hr, spo2=spo2, temp_c=temp, battery=battery, wear=wear,
                         steps=self.steps)  # fmt: skip
        return Step(t, encode_frame(CMD_STATUS, self.seq, self.dev, tl), self.dev)

    def event(self, t: float, name: str) -> Step:
        self.seq = (self.seq + 1) & 0xFF
        frame = encode_frame(CMD_EVENT, self.seq, self.dev, tlv(0x08, bytes((EVENT_CODES[name],))))
        return Step(t, frame, self.dev, self.seq)


Vitals = Callable[[float], dict[str, object]]


def _day(dev: int, duration: float, vitals: Vitals, stop_at: float | None = None) -> list[Step]:
    b = _Bracelet(dev)
    out: list[Step] = []
    t = 1.0
    while t < duration and (stop_at is None or t < stop_at):
        out.append(b.status(t, **vitals(t)))  # type: ignore[arg-type]
        t += STATUS_PERIOD_S
    return out


def _between(a: float, b: float, inside: dict[str, object]) -> Vitals:
    return lambda t: inside if a <= t < b else {}


def _with_events(dev: int, duration: float, events: list[tuple[float, str]]) -> list[Step]:
    steps = _day(dev, duration, lambda t: {})
    b = _Bracelet(dev, seq=200)
    return steps + [b.event(t, name) for t, name in events]


def _noise(dev: int, duration: float) -> list[Step]:
    rng = random.Random(dev)
    out: list[Step] = []
    for s in _day(dev, duration, lambda t: {}):
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
        truncated = s.frame[: rng.randrange(1, len(s.frame))]
        out += [Step(s.t - 0.5, junk + truncated, dev), s]
    return out


def _radar_fall(dev: int, duration: float) -> list[Step]:
    out = [Step(0.5, radar_frame(0x80, 0x01, b"\x01"))]
    t = 1.0
    while t < duration:
        fallen = 600 <= t < 900
        out.append(Step(t, radar_frame(0x80, 0x02, b"\x01" if fallen else b"\x02")))
        out.append(Step(t + 0.1, radar_frame(0x85, 0x02, bytes((70,)))))
        t += 10.0
    out += [Step(600.5, radar_frame(0x83, 0x01, b"\x01")),
            Step(610.5, radar_frame(0x83, 0x05, b"\x01")),
            Step(900.5, radar_frame(0x83, 0x01, b"\x00"))]  # fmt: skip
    return out


def build(name: str, dev: int, duration: float = 3600.0) -> list[Step]:
    """The timed frames of scenario ``name`` for bracelet ``dev`` (or one radar)."""
    if name == "radar_fall":
        return _radar_fall(dev, duration)
    if name == "noise":
        return _noise(dev, duration)
    if name in EVENTS:
        return _with_events(dev, duration, EVENTS[name])
    if name == "silent":
        return _day(dev, duration, lambda t: {}, stop_at=300.0)
    return _day(dev, duration, VITALS[name])


EVENTS: dict[str, list[tuple[float, str]]] = {
    "sos": [(120.5, "sos")],
    "fall": [(120.5, "fall")],
    "fall_cancelled": [(120.5, "fall"), (150.5, "fall_cancelled")],
}
VITALS: dict[str, Vitals] = {
    "normal": lambda t: {},
    "bradycardia": _between(300, 1500, {"hr": 45}),
    "low_spo2": _between(300, 1200, {"spo2": 90}),
    "fever": _between(300, 1800, {"temp": 38.0}),
    "off_wrist": _between(300, 2700, {"wear": False, "hr": 0xFF, "spo2": 0}),
    "low_battery": _between(300, 9e9, {"battery": 18}),
}
SCENARIOS = ("normal", "sos", "fall", "fall_cancelled", "radar_fall", "bradycardia",
             "low_spo2", "fever", "silent", "off_wrist", "low_battery", "noise")  # fmt: skip
