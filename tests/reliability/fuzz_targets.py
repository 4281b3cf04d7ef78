"""The parsers we fuzz, each wrapped so that only an undocumented exception escapes.

Shared by test_fuzz.py (hypothesis, in CI) and fuzz_atheris.py (coverage-guided, run
locally). Documented errors: :class:`agent.config.ConfigError` from the config loader
(agent/config_yaml.py bounds size, depth and alias expansion before building anything),
:class:`drivers.modbus.decode.DecodeError` from Modbus decoding,
:class:`drivers.serial.errors.CodecError` from the serial codecs (whose buffer must also
stay within ``BUFFER_BOUND`` whatever arrives). Anything else raised is a crasher and is
re-raised.
"""

from __future__ import annotations

import contextlib
from typing import Any

from agent.config import ConfigError, parse_config
from drivers.modbus.decode import DecodeError, decode_point, interpretations
from drivers.modbus.profile import Point
from drivers.serial.codec import BUFFER_BOUND
from drivers.serial.codecs import CODECS, make_codec
from drivers.serial.errors import CodecError

POINT_TYPES = ("bool", "bit", "bits", "u16", "i16", "u32", "i32", "f32", "string")
ORDERS = ("ABCD", "CDAB", "BADC", "DCBA")


def config_text(text: str) -> None:
    with contextlib.suppress(ConfigError):
        parse_config(text, "fuzz.yaml", check_files=False)


def modbus_words(point: Point, words: list[Any]) -> None:
    with contextlib.suppress(DecodeError):
        decode_point(point, words)
    with contextlib.suppress(DecodeError):
        interpretations([w for w in words if isinstance(w, int)])


def point_from_bytes(data: bytes) -> tuple[Point, list[int]]:
    """A point and register words from raw fuzzer bytes (for the atheris target)."""
    head = data[:6].ljust(6, b"\0")
    kind = POINT_TYPES[head[0] % len(POINT_TYPES)]
    point = Point(
        key="p",
        address=0,
        type=kind,  # type: ignore[arg-type]
        order=ORDERS[head[1] % 4],  # type: ignore[arg-type]
        bit=head[2] % 16,
        width=1 + head[3] % 16 if head[2] % 16 + 1 + head[3] % 16 <= 16 else 1,
        length=1 + head[4] % 8,
    )
    body = data[6:]
    words = [int.from_bytes(body[i : i + 3], "big") for i in range(0, len(body), 3)]
    return point, words


SERIAL_CODECS = tuple(sorted(CODECS))


def serial_stream(name: str, data: bytes) -> None:
    """Feed ``data`` to codec ``name`` in chunks the data itself sizes (1-64 bytes),
    decoding every frame it accepts, as the serial driver does."""
    codec = make_codec(name)
    i = 0
    while i < len(data):
        n = 1 + data[i] % 64
        for frame in codec.feed(data[i : i + n]):
            with contextlib.suppress(CodecError):
                codec.decode(frame)
        if codec.buffered > BUFFER_BOUND:
            raise AssertionError(f"{name}: buffer grew to {codec.buffered} bytes")
        i += n
