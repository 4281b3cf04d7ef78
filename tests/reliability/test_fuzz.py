"""Hostile input for the parsers we own: the config loader and Modbus decoding.

anchors-reliability.md §6.5. Hypothesis generates random YAML-ish text, YAML bombs
(alias expansion), deep nesting, huge scalars, and register words of any integer value
for every point type and order; every exception must be a documented one
(fuzz_targets.py). fuzz_atheris.py runs the same targets coverage-guided, locally.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.config import ConfigError, load_config
from drivers.modbus.profile import Point
from drivers.serial.codecs import CODECS
from tests.reliability.fuzz_atheris import one_config, one_modbus
from tests.reliability.fuzz_targets import (
    ORDERS,
    POINT_TYPES,
    SERIAL_CODECS,
    config_text,
    modbus_words,
    serial_stream,
)

# Every codec's header, and single bytes that often are lengths or checksums.
_PIECES = [c.header for c in CODECS.values()] + [b"\x00", b"\x01", b"\xff", b"\x7f"]
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_scalar = st.one_of(st.integers(), st.floats(), st.booleans(), st.none(), st.text(max_size=20))
_keys = st.sampled_from(
    ["gateway", "mqtt", "buffer", "drivers", "id", "site", "host", "port", "tls", "path",
     "kind", "name", "count", "rate_hz", "priority", "password", "<<", "*a", "&a"]
)  # fmt: skip


def _yaml_of(value: object, depth: int = 0) -> str:
    pad = "  " * depth
    if isinstance(value, dict):
        return "".join(f"\n{pad}{k}: {_yaml_of(v, depth + 1)}" for k, v in value.items())
    if isinstance(value, list):
        return "".join(f"\n{pad}- {_yaml_of(v, depth + 1)}" for v in value)
    return repr(value)


_docs = st.recursive(
    _scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=5)),
    max_leaves=30,
)


@FUZZ
@given(st.text(max_size=400))
def test_random_text_is_a_config_error_or_a_config(text: str) -> None:
    config_text(text)


@FUZZ
@given(_docs)
def test_random_yaml_documents_are_a_config_error_or_a_config(doc: object) -> None:
    config_text(_yaml_of(doc))


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_through_the_atheris_targets(data: bytes) -> None:
    one_config(data)
    one_modbus(data)


@FUZZ
@pytest.mark.parametrize("codec", SERIAL_CODECS)
@given(data=st.binary(max_size=2000))
def test_random_bytes_on_every_serial_codec(codec: str, data: bytes) -> None:
    serial_stream(codec, data)


@FUZZ
@pytest.mark.parametrize("codec", SERIAL_CODECS)
@given(data=st.lists(st.sampled_from(_PIECES) | st.binary(max_size=8), max_size=300))
def test_header_heavy_streams_on_every_serial_codec(codec: str, data: list[bytes]) -> None:
    # Random bytes rarely contain a header; these streams are made of header pieces
    # and short fillers, so the length and checksum paths are reached too.
    serial_stream(codec, b"".join(data))


@pytest.mark.parametrize(
    "text",
    [
        # billion laughs: 9 levels of 9 aliases
        "a: &a [x,x,x,x,x,x,x,x,x]\n"
        + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n"
            for i in range(8)
        ),
        "[" * 5000 + "]" * 5000,
        "{a: " * 3000 + "1" + "}" * 3000,
        "- " * 3000 + "x",
        "gateway: {id: " + "g" * 1_000_000 + "}\n",
        "!!python/object/apply:os.system ['true']\n",
        "a: !!binary " + "A" * 10_000 + "\n",
        "\x00\x01\x02",
        "gateway: &g {id: x}\nmqtt: *g\nbuffer: *g\ndrivers: [*g, *g]\n",
    ],
    ids=["alias-bomb", "deep-flow-seq", "deep-flow-map", "deep-block", "huge-scalar",
         "python-tag", "binary-tag", "control-chars", "aliases-everywhere"],
)  # fmt: skip
def test_hostile_config_documents_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError):
        from agent.config import parse_config

        parse_config(text, "hostile.yaml", check_files=False)


def test_a_huge_config_file_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    p = tmp_path / "huge.yaml"
    p.write_bytes(b"# filler\n" * 2_000_000)
    with pytest.raises(ConfigError):
        load_config(p, check_files=False)


_words = st.lists(
    st.one_of(st.integers(-(2**40), 2**40), st.integers(0, 0xFFFF), st.booleans()),
    max_size=12,
)


@FUZZ
@given(
    kind=st.sampled_from(POINT_TYPES),
    order=st.sampled_from(ORDERS),
    bit=st.integers(0, 15),
    length=st.integers(1, 8),
    scale=st.floats(allow_nan=False, allow_infinity=False, width=32),
    words=_words,
)
def test_modbus_decoding_of_any_words_is_a_value_or_a_decode_error(
    kind: str, order: str, bit: int, length: int, scale: float, words: list[int]
) -> None:
    point = Point(key="p", address=0, type=kind, order=order, bit=bit, length=length, scale=scale)  # type: ignore[arg-type]
    modbus_words(point, words)
