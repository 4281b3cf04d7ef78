"""Codecs by name (config ``codec:``), so the driver, CLI and simulator agree."""

from __future__ import annotations

from drivers.serial.codec import FrameCodec
from drivers.serial.codec_5359 import Radar5359Codec
from drivers.serial.codec_bracelet import BraceletCodec
from drivers.serial.codec_ld2410 import LD2410Codec
from drivers.serial.codec_tinyframe import TinyFrameCodec

CODECS: dict[str, type[FrameCodec]] = {
    c.name: c for c in (Radar5359Codec, TinyFrameCodec, LD2410Codec, BraceletCodec)
}


def make_codec(name: str) -> FrameCodec:
    try:
        return CODECS[name]()
    except KeyError:
        raise ValueError(f"unknown codec {name!r}; known: {sorted(CODECS)}") from None
