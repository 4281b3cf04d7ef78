"""The Modbus CLI tests' shared simulator: two units on loopback TCP, one per module."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.modbus.simproc import start_simulator


@pytest.fixture(scope="module")
def tcp_sim() -> Iterator[int]:
    proc, line = start_simulator("--port", "0")
    try:
        match = re.search(r"TCP on 127\.0\.0\.1:(\d+)", line)
        assert match, line
        yield int(match.group(1))
    finally:
        proc.terminate()
        proc.wait(10)
        assert proc.stdout is not None
        proc.stdout.close()
