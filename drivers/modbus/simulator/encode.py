"""Encode named values into a profile's registers: the inverse of ``decode``.

Points sharing one bit field (NICE3000+ 0x101D bits 8-11 carry both the door and the
running state) are encoded jointly: the raw value chosen is one that decodes to every
point's wanted value, so the simulator never serves self-contradicting words.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from typing import Any

from drivers.modbus.decode import decode_point, words_to_bytes
from drivers.modbus.profile import BIT_TABLES, Point, Profile

Image = dict[str, dict[int, int]]


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _raw_number(point: Point, value: Any) -> int:
    if point.enum is not None:
        for raw, meaning in point.enum.items():
            if _same(meaning, value):
                return raw
        return 0
    if value is None:
        return 0
    if isinstance(value, bool):
        return int(value)
    number = (float(value) - point.offset) / point.scale
    return round(number)


def _words(point: Point, value: Any) -> list[int]:
    """Register words of a whole-register point, in the point's byte order."""
    kind = point.type
    if kind == "string":
        raw = str(value or "").encode("ascii", "replace")[: point.length * 2]
        raw = raw.ljust(point.length * 2, b"\x00")
    elif kind == "f32":
        number = 0.0 if value is None else (float(value) - point.offset) / point.scale
        raw = struct.pack(">f", number)
    else:
        n = _raw_number(point, value)
        size = 2 if kind in ("u16", "i16") else 4
        n &= (1 << (8 * size)) - 1  # two's complement for negative values
        raw = n.to_bytes(size, "big")
    words = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    # Each order's rearrangement is its own inverse, so applying it encodes.
    out = words_to_bytes(words, point.order)
    return [int.from_bytes(out[i : i + 2], "big") for i in range(0, len(out), 2)]


def _joint_raw(points: list[Point], values: dict[str, Any]) -> int:
    """A bit-field value that decodes to what every point in ``points`` wants."""
    candidates: list[int] = [0]
    for p in points:
        if p.enum:
            candidates.extend(p.enum)
        else:
            candidates.append(_raw_number(p, values.get(p.key)))
    for raw in dict.fromkeys(candidates):
        word = raw << points[0].bit
        if all(_same(decode_point(p, [word]), _wanted(p, values)) for p in points):
            return raw
    return _raw_number(points[0], values.get(points[0].key))


def _wanted(p: Point, values: dict[str, Any]) -> Any:
    v = values.get(p.key)
    if p.enum is None and p.type in ("bit", "bool"):
        return bool(v)
    return v


def encode(profile: Profile, values: dict[str, Any]) -> Image:
    """Table -> {address: word or bit} for every point of ``profile``."""
    image: Image = {t: {} for t in ("coil", "discrete_input", "holding", "input")}
    fields: dict[tuple[str, int, int, int], list[Point]] = defaultdict(list)
    for p in profile.points:
        table = image[p.table]
        if p.table in BIT_TABLES:
            table[p.address] = int(bool(values.get(p.key)))
        elif p.type in ("bit", "bits"):
            fields[(p.table, p.address, p.bit, p.width)].append(p)
        else:
            for i, w in enumerate(_words(p, values.get(p.key))):
                table[p.address + i] = w
    for (table_name, address, bit, width), points in fields.items():
        mask = ((1 << width) - 1) << bit
        raw = _joint_raw(points, values) & ((1 << width) - 1)
        table = image[table_name]
        table[address] = (table.get(address, 0) & ~mask) | (raw << bit)
    return image
