"""Coverage-guided fuzzing of the config loader, Modbus decoding, the serial codecs, the
remote-command request parser and the alarm receipt payload.

    pip install atheris   # not a project dependency; it installed from PyPI here
    PYTHONPATH=. python tests/reliability/fuzz_atheris.py config -atheris_runs=200000
    PYTHONPATH=. python tests/reliability/fuzz_atheris.py modbus -atheris_runs=200000
    PYTHONPATH=. python tests/reliability/fuzz_atheris.py serial -atheris_runs=200000
    PYTHONPATH=. python tests/reliability/fuzz_atheris.py remote -atheris_runs=200000
    PYTHONPATH=. python tests/reliability/fuzz_atheris.py receipt -atheris_runs=200000

Without atheris the same targets run on plain random bytes (``--random N``). A crasher
found either way belongs in test_fuzz.py as a regression example.
"""

from __future__ import annotations

import random
import sys

from pydantic import ValidationError

from tests.reliability.fuzz_targets import (
    COMMAND_NAMES,
    SERIAL_CODECS,
    config_text,
    modbus_words,
    point_from_bytes,
    receipt_payload,
    remote_request,
    serial_stream,
)


def one_config(data: bytes) -> None:
    config_text(data.decode("utf-8", "replace"))


def one_modbus(data: bytes) -> None:
    try:
        point, words = point_from_bytes(data)
    except ValidationError:
        return  # an impossible point: refused by the profile model, as documented
    modbus_words(point, words)


def one_serial(data: bytes) -> None:
    """The first byte picks the codec, the rest is the stream."""
    if data:
        serial_stream(SERIAL_CODECS[data[0] % len(SERIAL_CODECS)], data[1:])


def one_remote(data: bytes) -> None:
    """The first byte picks the command (one value past the list: a name not on it), the
    rest is the request payload."""
    if data:
        names = (*COMMAND_NAMES, "no.such-command")
        remote_request(names[data[0] % len(names)], data[1:])


TARGETS = {
    "config": one_config,
    "modbus": one_modbus,
    "serial": one_serial,
    "remote": one_remote,
    "receipt": receipt_payload,
}


def main(argv: list[str]) -> None:
    target = TARGETS[argv[1]]
    if len(argv) > 3 and argv[2] == "--random":
        rng = random.Random(16)
        for _ in range(int(argv[3])):
            target(rng.randbytes(rng.randint(0, 400)))
        print(f"{argv[1]}: {argv[3]} random inputs, no crasher")
        return
    import atheris  # type: ignore[import-not-found]

    atheris.instrument_all()  # the parsers are imported already: instrument in place
    atheris.Setup([argv[0], *argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
