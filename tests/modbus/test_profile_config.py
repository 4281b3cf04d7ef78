"""Profiles and driver configs validate, refuse writes and explain mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from agent.config import ConfigError, parse_config
from drivers.modbus.config import ModbusConfig
from drivers.modbus.profile import ProfileError, load_profile, parse_profile, shipped_profiles

REPO = Path(__file__).resolve().parents[2]
BASE = """
gateway: {id: gw-1}
mqtt: {host: localhost, insecure: true}
buffer: {path: /tmp/x.db}
"""


def test_shipped_profiles_load_and_say_where_they_come_from() -> None:
    names = shipped_profiles()
    assert {"gb-monitor-box", "inovance-nice3000plus", "hpmont-cic"} <= set(names)
    for name in names:
        profile = load_profile(name)
        assert "PUBLIC" in profile.provenance or "INVENTED" in profile.provenance


def _profile(points: str, extra: str = "") -> str:
    return f"name: t\nprovenance: test\n{extra}points:\n{points}"


def test_modicon_notation_only_when_marked() -> None:
    p = parse_profile(_profile("  - {key: a, address: 40001, address_notation: modicon}\n"))
    assert (p.points[0].table, p.points[0].address) == ("holding", 0)
    p = parse_profile(_profile("  - {key: a, address: '300017', address_notation: modicon}\n"))
    assert (p.points[0].table, p.points[0].address) == ("input", 16)
    with pytest.raises(ProfileError, match="address_notation: modicon"):
        parse_profile(_profile("  - {key: a, address: '40001'}\n"))
    with pytest.raises(ProfileError, match="not holding"):
        parse_profile(
            _profile("  - {key: a, address: 30001, address_notation: modicon, table: holding}\n")
        )


def test_profile_write_access_is_refused() -> None:
    with pytest.raises(ProfileError, match="GB/T 42616"):
        parse_profile(_profile("  - {key: lock_lift, address: 0x6001, access: write}\n"))


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ("  - {key: a, address: 1}\n  - {key: a, address: 2}\n", "duplicate point key"),
        ("  - {key: a, address: 1, group: slow}\n", "poll group 'slow'"),
        ("  - {key: a, address: 1, table: coil, type: u16}\n", "single bits"),
        ("  - {key: a, address: 1, type: string, length: 20}\n", "wider than one request"),
        ("  - {key: a, address: 1, typo: 3}\n", "Extra inputs"),
    ],
)
def test_profile_mistakes_are_explained(points: str, message: str) -> None:
    extra = "limits: {max_registers_per_read: 10}\n"
    with pytest.raises(ProfileError, match=message):
        parse_profile(_profile(points, extra))


def test_unknown_fault_key_is_refused() -> None:
    with pytest.raises(ProfileError, match="unknown taxonomy keys"):
        parse_profile(_profile("  - {key: a, address: 1}\n", "fault_codes: {41: SAFETY}\n"))


def test_config_write_keys_are_refused_with_a_line_number() -> None:
    text = (
        BASE
        + """drivers:
  - name: lifts
    kind: modbus
    devices:
      - {id: lift-1, unit_id: 1, profile: gb-monitor-box, writes: [{address: 0x6001}]}
"""
    )
    with pytest.raises(ConfigError) as err:
        parse_config(text, "agent.yaml", check_files=False)
    assert "GB/T 42616" in str(err.value)
    assert "agent.yaml:" in str(err.value)


def test_config_consistency() -> None:
    base = {"name": "x", "kind": "modbus"}
    with pytest.raises(ValidationError, match="serial_port"):
        ModbusConfig.model_validate(
            {
                **base,
                "transport": "rtu",
                "devices": [{"id": "a", "unit_id": 1, "profile": "gb-monitor-box"}],
            }
        )
    with pytest.raises(ValidationError, match="share a unit_id"):
        ModbusConfig.model_validate(
            {
                **base,
                "devices": [
                    {"id": "a", "unit_id": 1, "profile": "p"},
                    {"id": "b", "unit_id": 1, "profile": "p"},
                ],
            }
        )


def test_demo_snippet_is_a_valid_drivers_entry() -> None:
    doc = yaml.safe_load((REPO / "examples" / "modbus-demo.yaml").read_text())
    cfg = parse_config(BASE + yaml.safe_dump({"drivers": doc["drivers"]}), check_files=False)
    (driver,) = cfg.drivers
    assert isinstance(driver, ModbusConfig) and len(driver.devices) == 2
