"""The codec interface every serial protocol implements, and the shared deframer.

A codec turns a byte stream into frames (``feed``: stateful, never raises, bounded
buffer), frames into observations (``decode``: pure) and builds frames for queries, ACKs
and the simulator (``encode``/``reply``). Resync rules from research domain-devices.md
§4.7: the buffer is bounded, a length field is checked against the codec's maximum
before waiting for more bytes, and on a bad checksum only the first byte is dropped and
the rest rescanned, so a header inside a damaged frame's payload is not missed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from drivers.serial.errors import CodecError

BUFFER_BOUND = 512

#: Observation kinds (domain-devices.md §4.7, plus the bracelet's event kinds).
KINDS = frozenset({
    "hr", "spo2", "temp", "resp", "presence", "motion", "body_movement", "dwell", "fall",
    "breathing_state", "sleep_anomaly", "distance", "battery", "wear", "steps", "rssi",
    "quality", "sos", "fall_cancelled", "off_wrist", "low_battery", "heartbeat",
})  # fmt: skip


@dataclass(frozen=True, slots=True)
class Observation:
    """One decoded value. ``device_id`` is empty when the frame names no device."""

    kind: str
    value: float | int | bool
    device_id: str = ""
    unit: str | None = None
    valid: bool = True
    seq: int | None = None  # bracelet edge events: retries repeat the sequence number
    device_ts: int | None = None


@dataclass
class CodecStats:
    """Counters a crew reads in ``edge-agent serial monitor``."""

    frames_ok: int = 0
    checksum_errors: int = 0
    resyncs: int = 0
    oversize: int = 0
    unknown: int = 0
    bytes_in: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "frames_ok": self.frames_ok, "checksum_errors": self.checksum_errors,
            "resyncs": self.resyncs, "oversize": self.oversize, "unknown": self.unknown,
            "bytes_in": self.bytes_in,
        }  # fmt: skip


_NEED_MORE = -1
_BAD_LENGTH = -2


@dataclass
class FrameCodec:
    """Base of every codec: header search, length check, checksum, bounded buffer.

    Subclasses set ``name``, ``header``, ``max_frame`` and implement ``frame_length``
    (total length from a buffer starting with the header, or ``_NEED_MORE`` /
    ``_BAD_LENGTH``), ``valid`` (checksum and trailer) and ``decode``.
    """

    name: ClassVar[str] = ""
    header: ClassVar[bytes] = b""
    max_frame: ClassVar[int] = BUFFER_BOUND
    baudrate: ClassVar[int] = 115_200
    stats: CodecStats = field(default_factory=CodecStats)
    _buf: bytearray = field(default_factory=bytearray)

    NEED_MORE: ClassVar[int] = _NEED_MORE
    BAD_LENGTH: ClassVar[int] = _BAD_LENGTH

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def frame_length(self, buf: bytearray) -> int:
        raise NotImplementedError

    def valid(self, frame: bytes) -> bool:
        raise NotImplementedError

    def decode(self, frame: bytes) -> list[Observation]:
        raise NotImplementedError

    def reply(self, frame: bytes) -> bytes | None:
        """Bytes to send back for ``frame`` (an ACK), if its protocol wants one."""
        return None

    def reset(self) -> None:
        self._buf.clear()

    def _drop(self, n: int) -> None:
        del self._buf[:n]
        self.stats.resyncs += 1

    def feed(self, data: bytes) -> list[bytes]:
        """Append ``data``; return every complete, valid frame now in the buffer."""
        self.stats.bytes_in += len(data)
        buf = self._buf
        buf += data
        out: list[bytes] = []
        head = self.header
        while buf:
            start = buf.find(head)
            if start < 0:
                # Keep a possible partial header at the end, drop the rest.
                keep = 0
                for k in range(min(len(head) - 1, len(buf)), 0, -1):
                    if buf.endswith(head[:k]):
                        keep = k
                        break
                if len(buf) > keep:
                    self._drop(len(buf) - keep)
                break
            if start:
                self._drop(start)
            total = self.frame_length(buf)
            if total == _NEED_MORE:
                break
            if total == _BAD_LENGTH or total > self.max_frame:
                self.stats.oversize += 1
                self._drop(1)
                continue
            if len(buf) < total:
                break
            frame = bytes(buf[:total])
            if not self.valid(frame):
                self.stats.checksum_errors += 1
                self._drop(1)
                continue
            del buf[:total]
            self.stats.frames_ok += 1
            out.append(frame)
        if len(buf) > BUFFER_BOUND:  # cannot happen with max_frame <= bound; a guard
            self._drop(len(buf) - BUFFER_BOUND)
        return out

    def check(self, frame: bytes) -> None:
        """Raise :class:`CodecError` unless ``frame`` is exactly one valid frame."""
        if not frame.startswith(self.header):
            raise CodecError(f"{self.name}: frame does not start with {self.header.hex(' ')}")
        total = self.frame_length(bytearray(frame))
        if total != len(frame) or not self.valid(frame):
            raise CodecError(f"{self.name}: bad length or checksum")
