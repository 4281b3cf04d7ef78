"""The parsers we fuzz, each wrapped so that only an undocumented exception escapes.

Shared by test_fuzz.py (hypothesis, in CI) and fuzz_atheris.py (coverage-guided, run
locally). Documented errors: :class:`agent.config.ConfigError` from the config loader
(agent/config_yaml.py bounds size, depth and alias expansion before building anything),
:class:`drivers.modbus.decode.DecodeError` from Modbus decoding,
:class:`drivers.serial.errors.CodecError` from the serial codecs (whose buffer must also
stay within ``BUFFER_BOUND`` whatever arrives),
:class:`agent.remote.errors.CommandError` from the remote-command request parser (which
then becomes the error reply and the audit event, built here as the service builds them),
pydantic's ``ValidationError`` from the alarm receipt payload (agent/receipts.py).
Anything else raised is a crasher and is re-raised.
"""

from __future__ import annotations

import contextlib
from typing import Any

import orjson
from pydantic import ValidationError

from agent.config import ConfigError, parse_config
from agent.receipts import Receipt
from agent.remote.errors import CommandError
from agent.remote.handlers import COMMANDS
from agent.remote.models import CommandEventData, CommandReply, ErrorInfo
from agent.remote.service import parse_request
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


COMMAND_NAMES = tuple(sorted(COMMANDS))


def remote_request(name: str, payload: bytes) -> None:
    """A request for command ``name`` parsed as the service does; a refusal is turned into
    the reply and the audit event it would cause, which must build and serialise too."""
    try:
        parse_request(name, payload)
    except CommandError as exc:
        error = ErrorInfo(code=exc.code, message=exc.message, problems=exc.problems)
        reply = CommandReply(command=name, gateway="gw", ok=False, error=error)
        orjson.dumps(reply.model_dump(mode="json"))
        CommandEventData(command=name, outcome="rejected", requester=None, error=exc.code,
                         replied=True).model_dump(mode="json")  # fmt: skip


def receipt_payload(payload: bytes) -> None:
    with contextlib.suppress(ValidationError):
        Receipt.model_validate_json(payload)
