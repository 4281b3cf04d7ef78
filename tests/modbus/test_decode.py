"""Word/byte orders, scaling, enums; fuzzed decoding raises only DecodeError."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.modbus.decode import DecodeError, decode_point, decode_request, interpretations
from drivers.modbus.planner import plan_points
from drivers.modbus.profile import Limits, Point, Profile
from drivers.modbus.simulator.encode import encode

# 123456.0 as f32 is 0x47F12000: bytes A=47 B=F1 C=20 D=00.
F32_WORDS = {
    "ABCD": [0x47F1, 0x2000],
    "CDAB": [0x2000, 0x47F1],
    "BADC": [0xF147, 0x0020],
    "DCBA": [0x0020, 0xF147],
}


@pytest.mark.parametrize("order", list(F32_WORDS))
def test_f32_in_every_order(order: str) -> None:
    p = Point(key="x", address=0, type="f32", order=order)
    assert decode_point(p, F32_WORDS[order]) == 123456.0


def test_probe_interpretations_show_all_orders() -> None:
    rows = interpretations(F32_WORDS["CDAB"])
    assert rows[0]["CDAB"]["f32"] == 123456.0
    assert rows[0]["ABCD"]["u32"] == 0x200047F1


def test_scale_offset_enum_bits_and_signed() -> None:
    assert decode_point(Point(key="v", address=0, scale=0.1, offset=-5), [1234]) == 118.4
    assert decode_point(Point(key="f", address=0, type="i16"), [0xFFFE]) == -2
    assert decode_point(Point(key="i", address=0, type="i32"), [0xFFFF, 0xFFFF]) == -1
    mode = Point(key="m", address=0, type="bits", bit=4, width=4, enum={7: "normal"})
    assert decode_point(mode, [0x0570]) == "normal"  # domain-devices.md §3.1 example
    assert decode_point(mode, [0x0580]) is None  # unmapped -> unknown
    assert decode_point(Point(key="b", address=0, type="bit", bit=4), [0x0010]) is True
    assert (
        decode_point(Point(key="s", address=0, type="string", length=2), [0x4142, 0x4300]) == "ABC"
    )


def test_wrong_lengths_and_nan_are_decode_errors() -> None:
    with pytest.raises(DecodeError):
        decode_point(Point(key="x", address=0, type="u32"), [1])
    with pytest.raises(DecodeError):
        decode_point(Point(key="x", address=0, type="f32"), [0x7FC0, 0])  # NaN
    with pytest.raises(DecodeError):
        decode_point(Point(key="x", address=0), [70000])


_point = st.builds(
    Point,
    key=st.just("p"),
    address=st.integers(0, 100),
    type=st.sampled_from(["bit", "bits", "u16", "i16", "u32", "i32", "f32", "string"]),
    bit=st.integers(0, 8),
    width=st.integers(1, 8),
    length=st.integers(1, 6),
    order=st.sampled_from(["ABCD", "CDAB", "BADC", "DCBA"]),
    scale=st.floats(-1e6, 1e6, allow_nan=False),
    offset=st.floats(-1e6, 1e6, allow_nan=False),
    enum=st.none() | st.dictionaries(st.integers(0, 70000), st.text(max_size=3), max_size=4),
)
_word = st.integers(-5, 70000) | st.booleans()


@given(point=_point, words=st.lists(_word, max_size=8))
@settings(max_examples=2000, deadline=None)
def test_fuzzed_decoding_raises_only_decode_error(point: Point, words: list[int]) -> None:
    with contextlib.suppress(DecodeError):
        decode_point(point, words)


@given(
    words=st.lists(st.integers(-3, 70000), max_size=130),
    n=st.integers(1, 10),
    order=st.sampled_from(["ABCD", "CDAB", "BADC", "DCBA"]),
    scale=st.sampled_from([1.0, 0.01]),
)
@settings(max_examples=300, deadline=None)
def test_fuzzed_request_decoding_matches_per_point(
    words: list[int], n: int, order: str, scale: float
) -> None:
    kinds = ["i16", "f32", "u32", "bits", "u16", "string"]
    pts = [
        Point(key=f"k{i}", address=i * 3, type=kinds[i % 6], order=order, scale=scale, width=3)
        for i in range(n)
    ]
    for request in plan_points(pts, Limits()):
        try:
            got = decode_request(request, words)
        except DecodeError:
            continue
        for p in request.points:
            lo = p.address - request.address
            assert got[p.key] == decode_point(p, words[lo : lo + p.words])


@given(
    value=st.integers(-(2**31), 2**31 - 1),
    order=st.sampled_from(["ABCD", "CDAB", "BADC", "DCBA"]),
)
def test_simulator_encoding_round_trips(value: int, order: str) -> None:
    profile = Profile(
        name="t",
        provenance="test",
        points=[
            Point(key="v", address=3, type="i32", order=order),
            Point(key="f", address=5, type="f32", order=order),
        ],
    )
    f = struct.unpack(">f", struct.pack(">f", value / 7))[0]
    image = encode(profile, {"v": value, "f": f})["holding"]
    assert decode_point(profile.points[0], [image[3], image[4]]) == value
    assert decode_point(profile.points[1], [image[5], image[6]]) == f
