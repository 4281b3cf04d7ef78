"""``simulate elevator`` in a subprocess; ``modbus probe|scan|profiles`` against it."""

from __future__ import annotations

import json
import re

import pytest

from agent.cli import main
from tests.modbus.simproc import start_simulator


def test_probe_prints_words_and_all_orders(
    tcp_sim: int, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "modbus",
            "probe",
            "--host",
            "127.0.0.1",
            "--port",
            str(tcp_sim),
            "--unit",
            "1",
            "--address",
            "0x1010",
            "--count",
            "4",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "0x1011" in out and "44114" in out  # hex and Modicon forms of the address
    assert re.search(r"4113 +0x1011 +44114 +1000 ", out)  # rated speed 1.000 m/s
    for order in ("ABCD", "CDAB", "BADC", "DCBA"):
        assert order in out


def test_probe_json_with_modicon_address(tcp_sim: int, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "modbus",
            "probe",
            "--host",
            "127.0.0.1",
            "--port",
            str(tcp_sim),
            "--unit",
            "1",
            "--modicon",
            "--address",
            "44114",
            "--count",
            "2",
            "--json",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["registers"][0]["address"] == 0x1011
    assert doc["registers"][0]["value"] == 1000
    assert set(doc["pairs"][0]) >= {"ABCD", "CDAB", "BADC", "DCBA"}


def test_scan_lists_responding_units(tcp_sim: int, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "modbus",
            "scan",
            "--host",
            "127.0.0.1",
            "--port",
            str(tcp_sim),
            "--last",
            "5",
            "--timeout-ms",
            "100",
            "--address",
            "0x1010",  # mapped; 0 is not on a NICE3000+ (exception 02, still an answer)
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "unit 1: ok" in out and "unit 3: ok" in out and "unit 2" not in out


def test_probe_over_rtu_pty(capsys: pytest.CaptureFixture[str]) -> None:
    proc, line = start_simulator("--pty")
    try:
        match = re.search(r"RTU on (\S+)", line)
        assert match, line
        code = main(
            [
                "modbus",
                "probe",
                "--serial",
                match.group(1),
                "--unit",
                "3",
                "--address",
                "0x1011",
                "--count",
                "1",
                "--json",
            ]
        )
        doc = json.loads(capsys.readouterr().out)
        assert code == 0 and doc["registers"][0]["value"] == 1000
    finally:
        proc.terminate()
        proc.wait(10)


def test_probe_errors_are_reported_not_raised(
    tcp_sim: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "modbus",
                "probe",
                "--host",
                "127.0.0.1",
                "--port",
                str(tcp_sim),
                "--unit",
                "9",
                "--timeout-ms",
                "100",
            ]
        )
        == 1
    )
    assert main(["modbus", "probe", "--host", "127.0.0.1", "--count", "126"]) == 2
    assert main(["modbus", "probe", "--host", "127.0.0.1", "--modicon", "--address", "12"]) == 2
    assert "error" in capsys.readouterr().err


def test_profiles_lists_and_checks(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    assert main(["modbus", "profiles"]) == 0
    assert "inovance-nice3000plus" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nprovenance: x\npoints:\n  - {key: a, address: 1, access: write}\n")
    assert main(["modbus", "profiles", str(bad)]) == 2  # config error, as config check
    assert "GB/T 42616" in capsys.readouterr().err


def test_simulate_rejects_unknown_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "elevator", "--unit", "1=nonsense"]) == 2
    assert "unknown scenario" in capsys.readouterr().err
