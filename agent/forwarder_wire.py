"""The drain's hot paths on paho's connection: buffered reads and a lean PUBACK handler.

Split from agent/forwarder_publish.py. A backlog drain is CPU-bound on the event loop
thread, and a profile of it (bench/RESULTS.md, forward, 2026-12-02) puts most of the time
in paho's generic packet handling: three ``recv`` calls per 4-byte PUBACK (command byte,
length byte, body), then a ``ReasonCode`` and a ``Properties`` object built per PUBACK
whether or not anyone looks at them. :class:`Wire` replaces three methods on one paho
client instance (paho runs inside our event loop through aiomqtt; nothing else uses the
client): ``_sock_recv`` reads up to 64 KiB at a time and hands paho its bytes from
that buffer, ``loop_read`` goes on until the socket has nothing more, and
``_handle_pubackcomp`` gives the packet id and reason code of a PUBACK straight to the
publisher. Everything else (CONNACK, inbound PUBLISH, SUBACK, PINGRESP, DISCONNECT, the
PUBACKs of paho's own publishes, malformed packets) still goes through paho's code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion

_READ = 65536  # bytes per socket read
_READS_PER_WAKE = 64  # socket reads per readiness callback: bounds one callback's work
# PUBACK reason codes (MQTT v5 §3.4.2.1): success, no matching subscribers, then the
# failures. Anything else is malformed and left to paho, which drops the connection.
_PUBACK_CODES = frozenset({0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99})
# What Wire and Publisher use of paho's client (pyproject.toml pins paho to 2.2.x).
_PAHO_INTERNALS = (
    "_sock_recv", "_packet_read", "_handle_pubackcomp", "_loop_rc_handle", "_in_packet",
    "_packet_queue", "_mid_generate", "_sock", "loop_read",
)  # fmt: skip


def _paho_version() -> str:
    from importlib.metadata import version

    return version("paho-mqtt")


class Wire:
    """Buffered reads and the PUBACK fast path on one paho client (see the module)."""

    def __init__(self, paho: Any, on_ack: Callable[[int, int], bool]) -> None:
        missing = [name for name in _PAHO_INTERNALS if not hasattr(paho, name)]
        if missing:  # a paho outside pyproject.toml's pin: refuse loudly, never misframe
            raise RuntimeError(f"paho-mqtt {_paho_version()} lacks {missing}; need 2.2.x")
        self._paho = paho
        self._on_ack = on_ack  # (packet id, reason code) -> False if the id is not ours
        self._v5 = paho.protocol == MQTTProtocolVersion.MQTTv5
        self._buf = b""
        self._pos = 0
        self._reads_left = 0
        self._recv: Callable[[int], bytes] = paho._sock_recv
        self._read_packet: Callable[[], MQTTErrorCode] = paho._packet_read
        self._paho_puback: Callable[[str], MQTTErrorCode] = paho._handle_pubackcomp
        paho._sock_recv = self._sock_recv
        paho.loop_read = self.loop_read
        paho._handle_pubackcomp = self._handle_pubackcomp

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """paho's ``loop_read``, but until the socket is drained: paho stops after as
        many packets as it has messages in flight, and ours are not among them."""
        paho = self._paho
        self._reads_left = _READS_PER_WAKE
        while True:
            if paho._sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN
            rc = self._read_packet()
            if rc > 0:
                result: MQTTErrorCode = paho._loop_rc_handle(rc)
                return result
            # paho also says "again" after 100 reads into one large packet: bytes still
            # in the buffer would then wait for a readiness event that may not come.
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN and self._pos >= len(self._buf):
                return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _sock_recv(self, bufsize: int) -> bytes:
        """Up to ``bufsize`` bytes from the buffer, refilled by one large read.

        Raises BlockingIOError (paho's "come back later") when the buffer is empty and
        this callback has read enough: the socket stays readable, so the loop calls again
        after the other callbacks had their turn. The buffer is always emptied before
        that, so no byte waits in it for a readiness event that will not come.
        """
        buf, pos = self._buf, self._pos
        if pos >= len(buf):
            if self._reads_left <= 0:
                raise BlockingIOError
            self._reads_left -= 1
            buf = self._recv(_READ)
            if not buf:
                return buf  # end of stream: paho reports the connection lost
            self._buf, pos = buf, 0
        end = pos + bufsize
        self._pos = end
        return buf[pos:end]

    def _handle_pubackcomp(self, cmd: str) -> MQTTErrorCode:
        if cmd == "PUBACK":
            packet = self._paho._in_packet["packet"]
            size = len(packet)
            if size == 2 or (self._v5 and size > 2):
                code = packet[2] if size > 2 else 0
                if code in _PUBACK_CODES and self._on_ack(packet[0] << 8 | packet[1], code):
                    return MQTTErrorCode.MQTT_ERR_SUCCESS
        return self._paho_puback(cmd)
