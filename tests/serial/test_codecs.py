"""Codecs: public test vectors, encode/decode round trips, 100k random/mutated streams."""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.serial.codec import BUFFER_BOUND, FrameCodec
from drivers.serial.codec_5359 import Radar5359Codec
from drivers.serial.codec_bracelet import CMD_ACK, CMD_EVENT, BraceletCodec, crc16, status_tlvs, tlv
from drivers.serial.codec_ld2410 import LD2410Codec
from drivers.serial.codec_tinyframe import TinyFrameCodec
from drivers.serial.codecs import CODECS, make_codec
from drivers.serial.errors import CodecError

# research domain-devices.md §4.1-4.3 (vendor frames and computed vectors)
VECTORS = [
    ("seeed5359", "53 59 85 02 00 01 48 7C 54 43", [("hr", 72)]),
    ("seeed5359", "53 59 81 02 00 01 10 40 54 43", [("resp", 16)]),
    ("seeed5359", "53 59 83 01 00 01 01 32 54 43", [("fall", True)]),
    ("seeed5359", "53 59 80 01 00 01 01 2F 54 43", [("presence", True)]),
    ("tinyframe", "01 00 01 00 04 0A 15 E4 00 00 90 42 2D", [("hr", 72.0)]),
    ("tinyframe", "01 00 02 00 01 0E 02 F1 01 FE", [("fall", True)]),
    ("ld2410", "F4 F3 F2 F1 0D 00 02 AA 03 46 00 34 00 00 3C 00 00 55 00 F8 F7 F6 F5",
     [("presence", True), ("motion", 2), ("distance", 0.0)]),
]  # fmt: skip


@pytest.mark.parametrize(("codec", "hexframe", "expected"), VECTORS)
def test_vectors(codec: str, hexframe: str, expected: list[tuple[str, object]]) -> None:
    c = make_codec(codec)
    frames = c.feed(bytes.fromhex(hexframe))
    assert len(frames) == 1
    assert [(o.kind, o.value) for o in c.decode(frames[0])] == expected


def test_vendor_reset_frame_checksum() -> None:
    # 53 59 01 02 00 01 0F BF 54 43: the vendor's reset frame (S15, S16).
    assert Radar5359Codec.encode(0x01, 0x02, b"\x0f") == bytes.fromhex("5359010200010FBF5443")


def test_crc16_modbus_check_value() -> None:
    assert crc16(b"123456789") == 0x4B37


def test_bracelet_event_gets_an_ack() -> None:
    c = BraceletCodec()
    frame = c.encode(CMD_EVENT, 7, 0x2A, tlv(0x08, b"\x01"))
    (obs,) = c.decode(c.feed(frame)[0])
    assert (obs.kind, obs.device_id, obs.seq) == ("sos", "0000002a", 7)
    ack = c.reply(frame)
    assert ack is not None and ack[5] == 7 and ack[6] == CMD_ACK


def test_decode_refuses_a_bad_frame() -> None:
    with pytest.raises(CodecError):
        Radar5359Codec().decode(bytes.fromhex("53 59 85 02 00 01 48 7D 54 43"))


@given(st.integers(0, 255), st.integers(50, 100), st.floats(30, 42), st.integers(0, 100),
       st.booleans(), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))  # fmt: skip
def test_bracelet_round_trip(hr: int, spo2: int, temp: float, bat: int, wear: bool,
                             steps: int, dev: int) -> None:  # fmt: skip
    c = BraceletCodec()
    tl = status_tlvs(hr=hr, spo2=spo2, temp_c=temp, battery=bat, wear=wear, steps=steps)
    obs = {o.kind: o.value for o in c.decode(c.feed(c.encode(0x01, 1, dev, tl))[0])}
    assert obs["hr"] == hr and obs["spo2"] == spo2 and obs["battery"] == bat
    assert obs["wear"] is wear and obs["steps"] == steps
    assert abs(float(obs["temp"]) - temp) <= 0.005 + 1e-9


@given(st.integers(1, 255))
def test_5359_round_trip(v: int) -> None:
    c = Radar5359Codec()
    assert [(o.kind, o.value) for o in c.decode(c.feed(c.encode(0x85, 0x02, bytes((v,))))[0])] == [
        ("hr", v)
    ]


@given(st.floats(1, 250, width=32))
def test_tinyframe_round_trip(v: float) -> None:
    c = TinyFrameCodec()
    (o,) = c.decode(c.feed(c.encode(0x0A15, struct.pack("<f", v)))[0])
    assert o.kind == "hr" and abs(float(o.value) - v) < 0.01


@given(st.integers(0, 3), st.integers(0, 600))
def test_ld2410_round_trip(state: int, cm: int) -> None:
    c = LD2410Codec()
    obs = {o.kind: o.value for o in c.decode(c.feed(c.encode(state, cm))[0])}
    assert obs["presence"] is (state != 0)


def _good(name: str) -> bytes:
    return {
        "seeed5359": Radar5359Codec.encode(0x85, 0x02, b"\x48"),
        "tinyframe": TinyFrameCodec.encode(0x0A15, struct.pack("<f", 72.0)),
        "ld2410": LD2410Codec.encode(3, 120),
        "bracelet": BraceletCodec.encode(0x02, 9, 1, tlv(0x08, b"\x01")),
    }[name]


def _mutate(rng: random.Random, frame: bytes) -> bytes:
    b = bytearray(frame)
    for _ in range(rng.randrange(1, 4)):
        op = rng.randrange(3)
        i = rng.randrange(len(b)) if b else 0
        if op == 0 and b:
            b[i] = rng.randrange(256)
        elif op == 1 and b:
            del b[i]
        else:
            b.insert(i, rng.randrange(256))
    return bytes(b)


@pytest.mark.parametrize("name", sorted(CODECS))
def test_100k_random_and_mutated_streams(name: str) -> None:
    """Never raises, never stalls, bounded buffer, and a good frame after garbage is kept."""
    rng = random.Random(name)
    good = _good(name)
    codec: FrameCodec = make_codec(name)
    recovered = 0
    for i in range(100_000):
        chunk = rng.randbytes(rng.randrange(1, 48)) if i % 2 else _mutate(rng, good)
        for frame in codec.feed(chunk):
            codec.decode(frame)
        assert codec.buffered <= BUFFER_BOUND
        if i % 100 == 0:
            # Garbage (possibly a partial header) then a valid frame: the frame comes out.
            # Flush a pending partial frame first: a length field may still claim bytes.
            codec.feed(b"\x00" * codec.max_frame)
            out = codec.feed(good)
            assert good in out, f"lost a valid frame after garbage at {i}"
            recovered += 1
    assert recovered == 1000
    assert codec.stats.frames_ok > 0 and codec.stats.resyncs > 0
