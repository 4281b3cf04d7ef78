"""Output conventions of the Modbus tools: 80 columns, --json, progress on stderr."""

from __future__ import annotations

import json

import pytest

from agent.cli import main


def test_probe_fits_80_columns(tcp_sim: int, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["modbus", "probe", "--host", "127.0.0.1", "--port", str(tcp_sim)]
    assert main([*argv, "--unit", "1", "--address", "0x1010", "--count", "8"]) == 0
    out = capsys.readouterr().out
    assert "DCBA" in out
    assert max(len(line) for line in out.splitlines()) <= 80, out


def test_scan_json_with_progress_on_stderr(
    tcp_sim: int, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["modbus", "scan", "--host", "127.0.0.1", "--port", str(tcp_sim)]
    assert main([*argv, "--last", "4", "--timeout-ms", "100", "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert [u["unit"] for u in doc["units"]] == [1, 3]
    assert "scanning units 1..4" in captured.err


def test_profiles_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["modbus", "profiles", "--json"]) == 0
    names = {p["name"] for p in json.loads(capsys.readouterr().out)}
    assert {"gb-monitor-box", "inovance-nice3000plus"} <= names
