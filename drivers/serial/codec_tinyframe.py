"""The TinyFrame radar family (Seeed MR60BHA2 / MR60FDA2, Hi-Link LD6002).

Frame (research domain-devices.md §4.2, source S18)::

    01 | ID(2, BE) | LEN(2, BE) | TYPE(2, BE) | HEAD_CKSUM | DATA(LEN) | DATA_CKSUM
    cksum = ~(XOR of the covered bytes) & 0xFF; HEAD over bytes 0..6, DATA over payload

As in TinyFrame itself, a frame with LEN 0 carries no data checksum. Floats are
little-endian float32.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import reduce
from operator import xor
from typing import ClassVar

from drivers.serial.codec import FrameCodec, Observation

SOF = b"\x01"
MAX_PAYLOAD = 32

T_BREATH, T_HEART, T_DISTANCE = 0x0A14, 0x0A15, 0x0A16
T_FALL, T_PRESENCE = 0x0E02, 0x0F09


def cksum(data: bytes) -> int:
    return ~reduce(xor, data, 0) & 0xFF


def encode_frame(ftype: int, payload: bytes, frame_id: int = 1) -> bytes:
    head = SOF + frame_id.to_bytes(2, "big") + len(payload).to_bytes(2, "big")
    head += ftype.to_bytes(2, "big")
    out = head + bytes((cksum(head),)) + payload
    return out + bytes((cksum(payload),)) if payload else out


def float_payload(value: float) -> bytes:
    return struct.pack("<f", value)


@dataclass
class TinyFrameCodec(FrameCodec):
    name: ClassVar[str] = "tinyframe"
    header: ClassVar[bytes] = SOF
    max_frame: ClassVar[int] = 9 + MAX_PAYLOAD
    baudrate: ClassVar[int] = 115_200

    def frame_length(self, buf: bytearray) -> int:
        if len(buf) < 8:
            return self.NEED_MORE
        if cksum(bytes(buf[:7])) != buf[7]:
            return self.BAD_LENGTH if ((buf[3] << 8) | buf[4]) > MAX_PAYLOAD else 8
        n = (buf[3] << 8) | buf[4]
        if n > MAX_PAYLOAD:
            return self.BAD_LENGTH
        return 8 + n + (1 if n else 0)

    def valid(self, frame: bytes) -> bool:
        if len(frame) < 8 or cksum(frame[:7]) != frame[7]:
            return False
        payload = frame[8:-1]
        return len(frame) == 8 or cksum(payload) == frame[-1]

    def decode(self, frame: bytes) -> list[Observation]:
        self.check(frame)
        ftype = (frame[5] << 8) | frame[6]
        p = frame[8:-1]
        if ftype in (T_BREATH, T_HEART) and len(p) >= 4:
            value = struct.unpack("<f", p[:4])[0]
            kind, unit = ("hr", "bpm") if ftype == T_HEART else ("resp", "/min")
            ok = value == value and 0 < value < 300  # NaN and zero are "no reading"
            return [Observation(kind, round(value, 2) if ok else 0.0, unit=unit, valid=ok)]
        if ftype == T_DISTANCE and len(p) >= 8:
            value = struct.unpack("<f", p[4:8])[0]
            ok = bool(p[0]) and value == value
            return [Observation("distance", round(value, 2) if ok else 0.0, unit="cm", valid=ok)]
        if ftype in (T_FALL, T_PRESENCE) and len(p) >= 1:
            return [Observation("fall" if ftype == T_FALL else "presence", bool(p[0]))]
        self.stats.unknown += 1
        return []

    @staticmethod
    def encode(ftype: int, payload: bytes = b"", frame_id: int = 1) -> bytes:
        return encode_frame(ftype, payload, frame_id)
