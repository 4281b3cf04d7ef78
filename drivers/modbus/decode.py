"""Decode register words into point values with our own ``struct`` codec.

pymodbus' payload classes were removed in 3.10 (research anchors-reliability.md §2.2),
so decoding lives here, pure and fuzzed. Word/byte orders follow Telegraf's vocabulary
(anchors-gateways.md §5.1): for a 32-bit value whose big-endian bytes are A B C D,
``ABCD`` is Modbus-standard, ``CDAB`` swaps words, ``BADC`` swaps bytes within each word,
``DCBA`` reverses all four. The only error raised is :class:`DecodeError`.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Any

from drivers.modbus.planner import ReadRequest
from drivers.modbus.profile import BIT_TABLES, Point

ORDERS = ("ABCD", "CDAB", "BADC", "DCBA")


class DecodeError(ValueError):
    """The words cannot represent the point (wrong count, out-of-range word, NaN)."""


def _pack(words: Sequence[int] | Sequence[bool]) -> bytes:
    """Wire bytes of ``words`` (big-endian registers), validating each word once."""
    try:
        return struct.pack(f">{len(words)}H", *words)
    except (struct.error, TypeError):
        raise DecodeError(f"register values {list(words)[:8]!r}... are not 16-bit words") from None


def _reorder(raw: bytes, order: str) -> bytes:
    """Rearrange wire bytes so they read big-endian (ABCD) for the given order."""
    if order in ("CDAB", "DCBA"):
        raw = b"".join(raw[i : i + 2] for i in range(len(raw) - 2, -1, -2))
    if order in ("BADC", "DCBA"):
        swapped = bytearray(len(raw))
        swapped[0::2], swapped[1::2] = raw[1::2], raw[0::2]
        raw = bytes(swapped)
    return raw


def words_to_bytes(words: Sequence[int], order: str) -> bytes:
    """Bytes of ``words`` rearranged so that they read big-endian in ``order``."""
    return _reorder(_pack(words), order)


_FORMATS = {"u16": ">H", "i16": ">h", "u32": ">I", "i32": ">i", "f32": ">f"}
_STRUCTS = {k: struct.Struct(f) for k, f in _FORMATS.items()}


def _value(point: Point, wire: bytes) -> Any:
    """Decode ``point`` from its own wire bytes (2 per register)."""
    kind = point.type
    raw: int | float
    if kind == "string":
        text = _reorder(wire, point.order)
        return text.decode("ascii", errors="replace").strip("\x00 ")
    if kind in ("bool", "bit", "bits"):
        word = (wire[0] << 8) | wire[1]
        raw = int(word != 0) if kind == "bool" else (word >> point.bit) & ((1 << point.width) - 1)
    else:
        # A 16-bit point honours the byte-swap half of its order (BADC / DCBA).
        data = wire if point.order == "ABCD" else _reorder(wire, point.order)
        raw = struct.unpack(_FORMATS[kind], data)[0]
        if kind == "f32" and not math.isfinite(raw):
            raise DecodeError(f"{point.key}: not a finite number")
    if point.enum is not None:
        return point.enum.get(int(raw))
    if point.scale == 1.0 and point.offset == 0.0:
        return bool(raw) if kind in ("bool", "bit") else raw
    return round(raw * point.scale + point.offset, 6)


def decode_point(point: Point, words: Sequence[int] | Sequence[bool]) -> Any:
    """The value of ``point`` from exactly its own words (or one bit)."""
    if len(words) != point.words:
        raise DecodeError(f"{point.key}: needs {point.words} words, got {len(words)}")
    if point.table in BIT_TABLES:
        return _value(point, b"\x00\x01" if words[0] else b"\x00\x00")
    return _value(point, _pack(words))


def decode_request(request: ReadRequest, words: Sequence[int] | Sequence[bool]) -> dict[str, Any]:
    """Every point of ``request`` from the words the device returned for it."""
    if len(words) < request.count:
        raise DecodeError(f"short reply: {len(words)} of {request.count} values")
    if request.table in BIT_TABLES:
        return {p.key: decode_point(p, words[p.address - request.address :][:1])
                for p in request.points}  # fmt: skip
    wire = _pack(words[: request.count])
    values: dict[str, Any] = {}
    for p, lo, hi in request.layout:
        plain = _STRUCTS.get(p.type) if p.order == "ABCD" and p.enum is None else None
        if plain is None or p.type == "f32":
            values[p.key] = _value(p, wire[lo:hi])
            continue
        # Fast path for the common case: a big-endian integer, no enum.
        raw = plain.unpack_from(wire, lo)[0]
        if p.scale == 1.0 and p.offset == 0.0:
            values[p.key] = raw
        else:
            values[p.key] = round(raw * p.scale + p.offset, 6)
    return values


def interpretations(words: Sequence[int]) -> list[dict[str, Any]]:
    """For each pair of adjacent words, u32/i32/f32 in all four orders (for ``probe``)."""
    rows: list[dict[str, Any]] = []
    for i in range(len(words) - 1):
        pair = words[i : i + 2]
        row: dict[str, Any] = {"offset": i}
        for order in ORDERS:
            raw = words_to_bytes(pair, order)
            f = struct.unpack(">f", raw)[0]
            row[order] = {
                "u32": struct.unpack(">I", raw)[0],
                "i32": struct.unpack(">i", raw)[0],
                "f32": f if math.isfinite(f) else None,
            }
        rows.append(row)
    return rows
