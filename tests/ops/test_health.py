"""Pi health parsing on fake sysfs/procfs trees (anchors-reliability.md §7 test 28)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.health import cpu_temperature, read_memory, read_temperatures, read_throttled

FIRMWARE = "sys/devices/platform/soc/soc:firmware/get_throttled"


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize(
    ("text", "now_uv", "now_thr", "was_uv", "was_thr", "soft", "healthy"),
    [
        ("0\n", False, False, False, False, False, True),
        ("50000\n", False, False, True, True, False, True),
        ("50005\n", True, True, True, True, False, False),
        ("80008\n", False, False, False, False, True, False),
    ],
)
def test_throttled_bits(
    tmp_path: Path,
    text: str,
    now_uv: bool,
    now_thr: bool,
    was_uv: bool,
    was_thr: bool,
    soft: bool,
    healthy: bool,
) -> None:
    t = read_throttled(_tree(tmp_path, {FIRMWARE: text}))
    assert t is not None
    assert (t.under_voltage_now, t.throttled_now) == (now_uv, now_thr)
    assert (t.under_voltage_occurred, t.throttled_occurred) == (was_uv, was_thr)
    assert t.soft_temp_limit_now == soft and t.healthy_now == healthy


def test_throttled_found_on_other_device_tree_paths(tmp_path: Path) -> None:
    rel = "sys/devices/platform/soc@107c000000/soc@107c000000:firmware/get_throttled"
    t = read_throttled(_tree(tmp_path, {rel: "0x50005"}))
    assert t is not None and t.under_voltage_now


@pytest.mark.parametrize("files", [{}, {FIRMWARE: "garbage"}])
def test_missing_or_bad_throttled_is_unavailable_not_healthy(
    tmp_path: Path, files: dict[str, str]
) -> None:
    assert read_throttled(_tree(tmp_path, files)) is None


def test_thermal_zones_in_celsius(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "sys/class/thermal/thermal_zone0/temp": "48312\n",
            "sys/class/thermal/thermal_zone0/type": "cpu-thermal\n",
            "sys/class/thermal/thermal_zone1/temp": "51000\n",
            "sys/class/thermal/thermal_zone2/temp": "n/a\n",
        },
    )
    assert read_temperatures(root) == {"cpu-thermal": 48.3, "thermal_zone1": 51.0}
    assert cpu_temperature(root) == 51.0
    assert cpu_temperature(tmp_path / "empty") is None


def test_memory(tmp_path: Path) -> None:
    root = _tree(
        tmp_path, {"proc/meminfo": "MemTotal: 4000 kB\nMemFree: 10 kB\nMemAvailable: 1000 kB\n"}
    )
    mem = read_memory(root)
    assert mem is not None and mem.used_fraction == pytest.approx(0.75)
    assert read_memory(_tree(tmp_path / "b", {"proc/meminfo": "MemTotal: 4000 kB\n"})) is None
