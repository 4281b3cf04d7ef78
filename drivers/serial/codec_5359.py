"""The ``53 59`` radar family (Seeed MR60BHA1 / MR60FDA1 / MR24xx, Micradar R60ABD1/AFD1).

Frame (research domain-devices.md §4.1, sources S15-S17)::

    53 59 | CTRL | CMD | LEN(2, BE) | DATA(LEN) | SUM | 54 43
    SUM = (sum of bytes 0x53 .. last DATA byte) & 0xFF

Waveform frames (0x81/0x85 CMD 0x05) are recognised but yield nothing: raw waveforms
never leave the gateway.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from drivers.serial.codec import FrameCodec, Observation

HEADER = b"\x53\x59"
TRAILER = b"\x54\x43"
MAX_PAYLOAD = 64


def checksum(body: bytes) -> int:
    return sum(body) & 0xFF


def encode_frame(ctrl: int, cmd: int, payload: bytes) -> bytes:
    body = HEADER + bytes((ctrl, cmd)) + len(payload).to_bytes(2, "big") + payload
    return body + bytes((checksum(body),)) + TRAILER


def _u8(
    kind: str, unit: str | None = None, zero_invalid: bool = False
) -> Callable[[bytes], list[Observation]]:
    def dec(p: bytes) -> list[Observation]:
        return [Observation(kind, p[0], unit=unit, valid=not (zero_invalid and p[0] == 0))]

    return dec


def _flag(kind: str) -> Callable[[bytes], list[Observation]]:
    return lambda p: [Observation(kind, bool(p[0]))]


def _distance(p: bytes) -> list[Observation]:
    return [Observation("distance", int.from_bytes(p[:2], "big") / 100, unit="m")]


def _nothing(p: bytes) -> list[Observation]:
    return []


# (CTRL, CMD) -> (minimum payload length, decoder)
_TABLE: dict[tuple[int, int], tuple[int, Callable[[bytes], list[Observation]]]] = {
    (0x80, 0x01): (1, _flag("presence")),
    (0x80, 0x02): (1, _u8("motion")),  # 0 none, 1 stationary, 2 moving
    (0x80, 0x03): (1, _u8("body_movement")),
    (0x80, 0x04): (2, _distance),
    (0x81, 0x01): (1, _u8("breathing_state")),  # 1 normal 2 fast 3 slow 4 none
    (0x81, 0x02): (1, _u8("resp", "/min", zero_invalid=True)),
    (0x85, 0x02): (1, _u8("hr", "bpm", zero_invalid=True)),
    (0x83, 0x01): (1, _flag("fall")),
    (0x83, 0x05): (1, _flag("dwell")),
    (0x84, 0x0E): (1, _u8("sleep_anomaly")),  # 0 < 4 h, 1 > 12 h, 2 nobody for long
    (0x81, 0x05): (0, _nothing),
    (0x85, 0x05): (0, _nothing),
    (0x80, 0x05): (0, _nothing),
}


@dataclass
class Radar5359Codec(FrameCodec):
    name: ClassVar[str] = "seeed5359"
    header: ClassVar[bytes] = HEADER
    max_frame: ClassVar[int] = 9 + MAX_PAYLOAD
    baudrate: ClassVar[int] = 115_200

    def frame_length(self, buf: bytearray) -> int:
        if len(buf) < 6:
            return self.NEED_MORE
        n = (buf[4] << 8) | buf[5]
        return self.BAD_LENGTH if n > MAX_PAYLOAD else 9 + n

    def valid(self, frame: bytes) -> bool:
        return frame[-2:] == TRAILER and checksum(frame[:-3]) == frame[-3]

    def decode(self, frame: bytes) -> list[Observation]:
        self.check(frame)
        payload = frame[6:-3]
        entry = _TABLE.get((frame[2], frame[3]))
        if entry is None or len(payload) < entry[0]:
            self.stats.unknown += 1
            return []
        return entry[1](payload)

    @staticmethod
    def encode(ctrl: int, cmd: int, payload: bytes = b"") -> bytes:
        return encode_frame(ctrl, cmd, payload)
