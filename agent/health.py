"""Gateway health readings from sysfs and procfs: Pi throttling, CPU temperature, memory.

Pure readers over a filesystem root (``/`` on a gateway, a fake tree in tests), so every
rule is table-tested. Rules from ../shared/research/anchors-reliability.md §5.4:

* ``get_throttled`` is a bitmask (hex text in sysfs, as ``vcgencmd get_throttled``):
  bits 0-3 are "now" (under-voltage, ARM frequency capped, throttled, soft temperature
  limit), bits 16-19 the same since boot. The sysfs path varies with the kernel and device
  tree, so it is found by glob.
* Thermal zones report millidegrees Celsius.
* A missing or unreadable file is "unavailable" (``None``), never 0 or "healthy".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

_THROTTLED_GLOBS = (
    "sys/devices/platform/soc/soc:firmware/get_throttled",
    "sys/devices/platform/soc*/*/get_throttled",
    "sys/devices/platform/*/get_throttled",
)


@dataclass(frozen=True)
class Throttling:
    raw: int
    under_voltage_now: bool
    freq_capped_now: bool
    throttled_now: bool
    soft_temp_limit_now: bool
    under_voltage_occurred: bool
    freq_capped_occurred: bool
    throttled_occurred: bool
    soft_temp_limit_occurred: bool

    @property
    def healthy_now(self) -> bool:
        return not (self.raw & 0xF)


def parse_throttled(value: int) -> Throttling:
    def bit(n: int) -> bool:
        return bool(value >> n & 1)

    return Throttling(
        raw=value,
        under_voltage_now=bit(0),
        freq_capped_now=bit(1),
        throttled_now=bit(2),
        soft_temp_limit_now=bit(3),
        under_voltage_occurred=bit(16),
        freq_capped_occurred=bit(17),
        throttled_occurred=bit(18),
        soft_temp_limit_occurred=bit(19),
    )


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def read_throttled(root: Path = Path("/")) -> Throttling | None:
    """The firmware's throttling bits, or None where there is no readable firmware file."""
    for pattern in _THROTTLED_GLOBS:
        for path in sorted(root.glob(pattern)):
            text = _read_text(path)
            if text is None:
                continue
            try:
                return parse_throttled(int(text, 16))
            except ValueError:
                continue
    return None


def read_temperatures(root: Path = Path("/")) -> dict[str, float]:
    """Thermal zone type (or directory name) -> degrees Celsius; unreadable zones left out."""
    out: dict[str, float] = {}
    for zone in sorted(root.glob("sys/class/thermal/thermal_zone*")):
        text = _read_text(zone / "temp")
        if text is None:
            continue
        try:
            millideg = int(text)
        except ValueError:
            continue
        name = _read_text(zone / "type") or zone.name
        out[name if name not in out else zone.name] = round(millideg / 1000.0, 1)
    return out


def cpu_temperature(root: Path = Path("/")) -> float | None:
    """The hottest zone: a single number a crew can compare with the 80-85 °C limits."""
    temps = read_temperatures(root)
    return max(temps.values()) if temps else None


@dataclass(frozen=True)
class Memory:
    total_kib: int
    available_kib: int

    @property
    def used_fraction(self) -> float:
        return 1.0 - self.available_kib / self.total_kib if self.total_kib else 1.0


def read_memory(root: Path = Path("/")) -> Memory | None:
    """MemTotal and MemAvailable from /proc/meminfo, or None if either is missing."""
    text = _read_text(root / "proc/meminfo")
    if text is None:
        return None
    fields: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            fields[key.strip()] = int(parts[0])
    if "MemTotal" not in fields or "MemAvailable" not in fields:
        return None
    return Memory(fields["MemTotal"], fields["MemAvailable"])
