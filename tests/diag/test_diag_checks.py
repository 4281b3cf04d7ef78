"""diag's gateway-wide checks, table-tested on fake sysfs trees, and the command's output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli import main
from agent.diag_checks import broker_fix, host_checks
from agent.diagnosis import LiveRule, judge_live
from agent.gateway_health import Probes, measure
from agent.status import DeviceStatus, DriverStatus, StatusSnapshot

FIRMWARE = "sys/devices/platform/soc/soc:firmware/get_throttled"


def tree(root: Path, throttled: str | None, temp_milli: int | None, avail_kib: int) -> Path:
    files = {"proc/meminfo": f"MemTotal: 1000000 kB\nMemAvailable: {avail_kib} kB\n"}
    if throttled is not None:
        files[FIRMWARE] = throttled
    if temp_milli is not None:
        files["sys/class/thermal/thermal_zone0/temp"] = str(temp_milli)
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text + "\n")
    return root


@pytest.mark.parametrize(
    ("throttled", "temp", "avail", "want"),
    [
        ("0x0", 45000, 700000, {"host.temperature": "pass", "host.power": "pass",
                                "host.throttling": "pass", "host.memory": "pass"}),
        ("0x50005", 45000, 700000, {"host.power": "fail", "host.throttling": "fail"}),
        ("0x50000", 45000, 700000, {"host.power": "warn", "host.throttling": "warn"}),
        ("0x80008", 83000, 700000, {"host.temperature": "fail", "host.throttling": "fail",
                                    "host.power": "pass"}),
        ("0x0", 72000, 150000, {"host.temperature": "warn", "host.memory": "warn"}),
        ("0x0", 45000, 50000, {"host.memory": "fail"}),
        (None, None, 700000, {"host.temperature": "skip", "host.power": "skip",
                              "host.throttling": "skip"}),
    ],
)  # fmt: skip
def test_host_checks_on_fake_trees(
    tmp_path: Path, throttled: str | None, temp: int | None, avail: int, want: dict[str, str]
) -> None:
    root = tree(tmp_path, throttled, temp, avail)
    readings = measure(Probes(root=root, disk_path=tmp_path, clock_synced=lambda: True))
    got = {f.check: f.status for f in host_checks(readings, root)}
    assert {k: got[k] for k in want} == want
    failed = [f for f in host_checks(readings, root) if f.failed]
    assert all(f.fix for f in failed)


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", "mqtt.tls.ca"),
        ("Connection refused: Not authorized", "credentials"),
        ("[Errno 111] Connection refused", "broker runs"),
        ("timed out", "firewall"),
    ],
)
def test_broker_failures_get_the_right_fix(reason: str, words: str) -> None:
    assert words in broker_fix(reason)


def test_live_judgement_offline_stale_unknown() -> None:
    now = 1000.0
    snap = StatusSnapshot(
        gateway_id="gw",
        devices=[
            DeviceStatus(driver="d", device="a", state="online", last_seen=990.0),
            DeviceStatus(driver="d", device="b", state="offline", reason="no reply"),
            DeviceStatus(driver="d", device="c", state="online", last_seen=100.0),
            DeviceStatus(driver="d", device="e", state="unknown", reason="not polled yet"),
            DeviceStatus(driver="bus", device="g", state="unknown", reason="not polled yet"),
        ],
        drivers=[DriverStatus(name="bus", state="failing", last_error="cannot open 10.0.0.9:502")],
    )
    rule = LiveRule("x.device", "t", "fix it", stale_after_s=120)
    got = {dev: judge_live(snap, "d", dev, rule, now).status for dev in "abcef"}
    assert got == {"a": "pass", "b": "fail", "c": "fail", "e": "warn", "f": "fail"}
    failing = judge_live(snap, "bus", "g", rule, now)
    assert failing.failed and "cannot open 10.0.0.9:502" in failing.value


def test_unreadable_config_fails_config_and_still_checks_the_host(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text("gateway: {id: gw-1}\nmqtt: {host: x}\n")
    root = tree(tmp_path / "root", "0x0", 45000, 700000)
    code = main(["diag", "--config", str(bad), "--json", "--sysroot", str(root)])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and doc["ok"] is False
    checks = {f["check"]: f for f in doc["findings"]}
    assert checks["config.valid"]["status"] == "fail" and checks["config.valid"]["fix"]
    assert checks["host.power"]["status"] == "pass"


def test_table_lists_every_check_and_the_fixes_of_the_failed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text("gateway: {id: gw-1}\n")
    root = tree(tmp_path / "root", "0x50005", 45000, 700000)
    assert main(["diag", "--config", str(bad), "--sysroot", str(root)]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["check", "target", "status", "value"]
    assert "host.power" in out and "FAIL" in out and "to fix:" in out
    assert "rated power supply" in out
