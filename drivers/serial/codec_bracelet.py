"""The bracelet base-station frame ``AA 55`` (proposed, no public spec: [INV]).

Frame (research domain-devices.md §4.6)::

    AA 55 | LEN(2, LE: VER..end of TLVs) | VER=01 | SEQ | CMD | DEV_ID(4, LE) | TLV...
    | CRC16/MODBUS(2, LE over LEN..TLVs)

CMD 01 periodic status, 02 edge event (retried 3x / 2 s until ACKed), 03 base-station
heartbeat, 81 ACK (SEQ echoes the acknowledged frame), 82 config write. The gateway ACKs
every edge event it has decoded (:meth:`BraceletCodec.reply`), so the base station
stops retrying; a retry that arrives anyway repeats its SEQ and the rules drop it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from drivers.serial.codec import FrameCodec, Observation

HEADER = b"\xaa\x55"
VERSION = 0x01
CMD_STATUS, CMD_EVENT, CMD_HEARTBEAT, CMD_ACK, CMD_CONFIG = 0x01, 0x02, 0x03, 0x81, 0x82
MAX_LEN = 120
EVENTS = {1: "sos", 2: "fall", 3: "off_wrist", 4: "low_battery", 5: "fall_cancelled"}
EVENT_CODES = {v: k for k, v in EVENTS.items()}


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    """CRC-16/MODBUS, table-driven (the decode hot path)."""
    crc = 0xFFFF
    for b in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ b) & 0xFF]
    return crc


def device_hex(dev: int) -> str:
    return f"{dev:08x}"


def tlv(tag: int, value: bytes) -> bytes:
    return bytes((tag, len(value))) + value


def encode_frame(cmd: int, seq: int, dev: int, tlvs: bytes = b"") -> bytes:
    body = bytes((VERSION, seq & 0xFF, cmd)) + dev.to_bytes(4, "little") + tlvs
    lenb = len(body).to_bytes(2, "little")
    return HEADER + lenb + body + crc16(lenb + body).to_bytes(2, "little")


def status_tlvs(*, hr: int | None = None, spo2: int | None = None, temp_c: float | None = None,
                battery: int | None = None, wear: bool | None = None,
                steps: int | None = None, resp: int | None = None) -> bytes:  # fmt: skip
    out = b""
    if hr is not None:
        out += tlv(0x01, bytes((hr,)))
    if spo2 is not None:
        out += tlv(0x02, bytes((spo2,)))
    if temp_c is not None:
        out += tlv(0x03, round(temp_c * 100).to_bytes(2, "little", signed=True))
    if battery is not None:
        out += tlv(0x04, bytes((battery,)))
    if wear is not None:
        out += tlv(0x05, bytes((int(wear),)))
    if steps is not None:
        out += tlv(0x06, steps.to_bytes(4, "little"))
    if resp is not None:
        out += tlv(0x0A, bytes((resp,)))
    return out


def _tlv_obs(tag: int, v: bytes, dev: str, seq: int) -> Observation | None:
    n = len(v)
    if tag == 0x01 and n == 1:
        return Observation("hr", v[0], dev, "bpm", valid=v[0] not in (0, 0xFF))
    if tag == 0x02 and n == 1:
        return Observation("spo2", v[0], dev, "%", valid=50 <= v[0] <= 100)
    if tag == 0x03 and n == 2:
        t = int.from_bytes(v, "little", signed=True) / 100
        return Observation("temp", t, dev, "°C", valid=25.0 <= t <= 45.0)
    if tag == 0x04 and n == 1:
        return Observation("battery", v[0], dev, "%", valid=v[0] <= 100)
    if tag == 0x05 and n == 1:
        return Observation("wear", bool(v[0]), dev)
    if tag == 0x06 and n == 4:
        return Observation("steps", int.from_bytes(v, "little"), dev)
    if tag == 0x07 and n == 1:
        return Observation("rssi", int.from_bytes(v, "little", signed=True), dev, "dBm")
    if tag == 0x08 and n == 1 and v[0] in EVENTS:
        return Observation(EVENTS[v[0]], True, dev, seq=seq)
    if tag == 0x0A and n == 1:
        return Observation("resp", v[0], dev, "/min", valid=v[0] not in (0, 0xFF))
    if tag == 0x0B and n == 1:
        return Observation("quality", v[0], dev)
    return None


@dataclass
class BraceletCodec(FrameCodec):
    name: ClassVar[str] = "bracelet"
    header: ClassVar[bytes] = HEADER
    max_frame: ClassVar[int] = 6 + MAX_LEN
    baudrate: ClassVar[int] = 115_200

    def frame_length(self, buf: bytearray) -> int:
        if len(buf) < 4:
            return self.NEED_MORE
        n = buf[2] | (buf[3] << 8)
        return self.BAD_LENGTH if n > MAX_LEN or n < 7 else 6 + n

    def valid(self, frame: bytes) -> bool:
        return frame[4] == VERSION and crc16(frame[2:-2]) == int.from_bytes(frame[-2:], "little")

    def decode(self, frame: bytes) -> list[Observation]:
        self.check(frame)
        seq, cmd = frame[5], frame[6]
        dev = device_hex(int.from_bytes(frame[7:11], "little"))
        if cmd == CMD_HEARTBEAT:
            return [Observation("heartbeat", True, dev)]
        if cmd not in (CMD_STATUS, CMD_EVENT):
            self.stats.unknown += 1
            return []
        out: list[Observation] = []
        body, i = frame[11:-2], 0
        while i + 2 <= len(body):
            tag, n = body[i], body[i + 1]
            obs = _tlv_obs(tag, body[i + 2 : i + 2 + n], dev, seq)
            if obs is None:
                self.stats.unknown += 1
            else:
                out.append(obs)
            i += 2 + n
        return out

    def reply(self, frame: bytes) -> bytes | None:
        if frame[6] != CMD_EVENT:
            return None
        return encode_frame(CMD_ACK, frame[5], int.from_bytes(frame[7:11], "little"))

    @staticmethod
    def encode(cmd: int, seq: int, dev: int, tlvs: bytes = b"") -> bytes:
        return encode_frame(cmd, seq, dev, tlvs)
