"""Hi-Link HLK-LD2410 24 GHz presence radar (report frames only).

Frame (research domain-devices.md §4.3, source S19: Tasmota's decoder)::

    F4 F3 F2 F1 | LEN(2, LE) | TYPE(01 eng. / 02 basic) | AA | state | mov_dist(2, LE cm)
    | mov_energy | stat_dist(2, LE) | stat_energy | det_dist(2, LE) | [eng. data] | 55 | 00
    | F8 F7 F6 F5

There is no checksum: the trailer and the ``AA`` / ``55 00`` markers validate a frame.
Command frames (``FD FC FB FA ... 04 03 02 01``) are built by :func:`encode_command`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from drivers.serial.codec import FrameCodec, Observation

HEADER = b"\xf4\xf3\xf2\xf1"
TRAILER = b"\xf8\xf7\xf6\xf5"
CMD_HEADER = b"\xfd\xfc\xfb\xfa"
CMD_TRAILER = b"\x04\x03\x02\x01"
MAX_PAYLOAD = 0x23
# state: 0 none, 1 moving, 2 stationary, 3 both -> our motion scale 0 none 1 still 2 moving
_MOTION = {0: 0, 1: 2, 2: 1, 3: 2}


def encode_report(state: int, mov_cm: int, mov_energy: int, stat_cm: int,
                  stat_energy: int, det_cm: int) -> bytes:  # fmt: skip
    payload = bytes((0x02, 0xAA, state)) + mov_cm.to_bytes(2, "little") + bytes((mov_energy,))
    payload += stat_cm.to_bytes(2, "little") + bytes((stat_energy,))
    payload += det_cm.to_bytes(2, "little") + b"\x55\x00"
    return HEADER + len(payload).to_bytes(2, "little") + payload + TRAILER


def encode_command(word: int, value: bytes = b"") -> bytes:
    body = word.to_bytes(2, "little") + value
    return CMD_HEADER + len(body).to_bytes(2, "little") + body + CMD_TRAILER


@dataclass
class LD2410Codec(FrameCodec):
    name: ClassVar[str] = "ld2410"
    header: ClassVar[bytes] = HEADER
    max_frame: ClassVar[int] = 10 + MAX_PAYLOAD
    baudrate: ClassVar[int] = 256_000

    def frame_length(self, buf: bytearray) -> int:
        if len(buf) < 6:
            return self.NEED_MORE
        n = buf[4] | (buf[5] << 8)
        return self.BAD_LENGTH if n > MAX_PAYLOAD or n < 13 else 10 + n

    def valid(self, frame: bytes) -> bool:
        p = frame[6:-4]
        return (
            frame[-4:] == TRAILER and p[0] in (0x01, 0x02) and p[1] == 0xAA
            and p[-2:] == b"\x55\x00"
        )  # fmt: skip

    def decode(self, frame: bytes) -> list[Observation]:
        self.check(frame)
        p = frame[6:-4]
        state = p[2]
        if state not in _MOTION:
            self.stats.unknown += 1
            return []
        det_cm = int.from_bytes(p[9:11], "little")
        return [
            Observation("presence", state != 0),
            Observation("motion", _MOTION[state]),
            Observation("distance", det_cm / 100, unit="m", valid=state != 0),
        ]

    @staticmethod
    def encode(state: int, det_cm: int = 100) -> bytes:
        moving = state in (1, 3)
        still = state in (2, 3)
        return encode_report(state, det_cm if moving else 0, 50 if moving else 0,
                             det_cm if still else 0, 50 if still else 0, det_cm)  # fmt: skip
