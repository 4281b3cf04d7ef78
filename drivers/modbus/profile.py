"""Declarative device profiles: which registers a controller has and what they mean.

A profile is YAML validated by these pydantic models. Addresses are 0-based protocol
addresses; Modicon ``4xxxx`` notation is accepted only on points marked
``address_notation: modicon`` (research anchors-gateways.md §7 item 6 and §8.1: the
0/1-based mix-up is the most common installer error). Profiles are read-only by
construction: a point asking for write access is refused, because GB/T 42616 monitoring
terminals do not control lifts (domain-devices.md §0 item 4).
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from agent.driver import StrictModel
from drivers.modbus.taxonomy import FAULT_KEYS

Table = Literal["coil", "discrete_input", "holding", "input"]
PointType = Literal["bool", "bit", "bits", "u16", "i16", "u32", "i32", "f32", "string"]
ByteOrder = Literal["ABCD", "CDAB", "BADC", "DCBA"]
EnumValue = str | bool | int

BIT_TABLES: frozenset[str] = frozenset({"coil", "discrete_input"})
REGISTER_TABLES: frozenset[str] = frozenset({"holding", "input"})
# Register count of each fixed-width type; strings use ``length``.
TYPE_WIDTH: dict[str, int] = {
    "bool": 1, "bit": 1, "bits": 1, "u16": 1, "i16": 1, "u32": 2, "i32": 2, "f32": 2,
}  # fmt: skip

WRITE_REFUSED = (
    "writes to an elevator controller are refused: this agent is a monitoring terminal "
    "and GB/T 42616 terminals do not control lifts"
)
_MODICON_TABLES = {"0": "coil", "1": "discrete_input", "3": "input", "4": "holding"}


class ProfileError(ValueError):
    """A profile file is missing, not YAML, or does not validate."""


_Strict = StrictModel  # the one strict base (agent/driver.py)


def parse_modicon(text: str | int) -> tuple[str, int]:
    """``"40001"`` -> ``("holding", 0)``; 5- or 6-digit Modicon references, 1-based."""
    s = str(text).strip()
    if not re.fullmatch(r"[0134]\d{4,5}", s):
        raise ValueError(f"{text!r} is not a Modicon reference like 40001 or 300017")
    number = int(s[1:])
    if number < 1:
        raise ValueError(f"{text!r}: Modicon references start at 1")
    return _MODICON_TABLES[s[0]], number - 1


class Point(_Strict):
    """One value in the device: where it lives and how to turn words into a value."""

    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$", description="Name of the value.")
    table: Table = Field(default="holding", description="Modbus table the point lives in.")
    address: int = Field(ge=0, le=65535, description="0-based protocol address.")
    address_notation: Literal["protocol", "modicon"] = Field(
        default="protocol", description="'modicon' accepts 4xxxx-style 1-based references."
    )
    type: PointType = "u16"
    bit: int = Field(default=0, ge=0, le=15, description="First bit for bit/bits types.")
    width: int = Field(default=1, ge=1, le=16, description="Bit count for the bits type.")
    length: int = Field(default=1, ge=1, le=125, description="Registers of a string.")
    order: ByteOrder = Field(default="ABCD", description="Word/byte order of this point.")
    scale: float = 1.0
    offset: float = 0.0
    unit: str = ""
    enum: dict[int, EnumValue] | None = Field(
        default=None, description="Raw value -> meaning; unlisted raw values decode as None."
    )
    group: str = Field(default="fast", description="Poll group (its period).")
    access: Literal["read"] = "read"

    @model_validator(mode="before")
    @classmethod
    def _modicon_and_access(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if str(data.get("access", "read")).lower() != "read":
            raise ValueError(WRITE_REFUSED)
        if data.get("address_notation") == "modicon":
            table, address = parse_modicon(data.get("address", ""))
            if "table" in data and data["table"] != table:
                raise ValueError(
                    f"Modicon address {data['address']} is in table {table}, not {data['table']}"
                )
            return {**data, "table": table, "address": address}
        if isinstance(data.get("address"), str):
            raise ValueError(  # noqa: TRY004 - pydantic reports ValueError with the key path
                f"address {data['address']!r} must be a 0-based number; to use Modicon "
                "notation (40001 = holding 0) add address_notation: modicon"
            )
        return data

    @model_validator(mode="after")
    def _type_fits_table(self) -> Point:
        if self.table in BIT_TABLES and self.type != "bool":
            raise ValueError(f"{self.table} points hold single bits; use type: bool")
        if self.type == "bits" and self.bit + self.width > 16:
            raise ValueError("bit + width must not exceed 16")
        if self.address + self.words - 1 > 65535:
            raise ValueError("point runs past address 65535")
        return self

    @property
    def words(self) -> int:
        """Registers (or bits, on bit tables) the point occupies."""
        return self.length if self.type == "string" else TYPE_WIDTH[self.type]

    @property
    def end(self) -> int:
        """One past the last address the point occupies."""
        return self.address + self.words


class Limits(_Strict):
    """Quirk knobs: how much a device accepts per request and how gently to ask."""

    max_registers_per_read: int = Field(default=125, ge=1, le=125)
    max_bits_per_read: int = Field(default=2000, ge=1, le=2000)
    max_gap_registers: int = Field(
        default=8, ge=0, le=124, description="Unused registers read to save a request."
    )
    max_gap_bits: int = Field(default=64, ge=0, le=1999)
    pause_between_requests_ms: int = Field(default=0, ge=0, le=10_000)


class PollGroup(_Strict):
    period_ms: int = Field(ge=20, le=3_600_000)


class Profile(_Strict):
    """A controller model: its points, poll groups and fault-code meanings."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$")
    title: str = ""
    provenance: str = Field(
        min_length=1, description="Which parts come from a public document, which are guessed."
    )
    limits: Limits = Field(default_factory=Limits)
    poll_groups: dict[str, PollGroup] = Field(
        default_factory=lambda: {"fast": PollGroup(period_ms=1000)}
    )
    points: list[Point] = Field(min_length=1)
    fault_code_prefix: str = Field(default="", description="Label prefix, e.g. 'NICE:E'.")
    fault_codes: dict[int, str] = Field(
        default_factory=dict,
        description="Controller fault code -> taxonomy key; these keys then come only "
        "from the controller (controller codes are authoritative over derived rules).",
    )

    @field_validator("fault_codes")
    @classmethod
    def _known_keys(cls, value: dict[int, str]) -> dict[int, str]:
        unknown = sorted(set(value.values()) - FAULT_KEYS)
        if unknown:
            raise ValueError(f"unknown taxonomy keys {unknown}; known: {sorted(FAULT_KEYS)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Profile:
        seen: set[str] = set()
        for p in self.points:
            if p.key in seen:
                raise ValueError(f"duplicate point key {p.key!r}")
            seen.add(p.key)
            limit = (
                self.limits.max_bits_per_read
                if p.table in BIT_TABLES
                else self.limits.max_registers_per_read
            )
            if p.words > limit:
                raise ValueError(f"point {p.key!r} is wider than one request ({limit})")
            if p.group not in self.poll_groups:
                raise ValueError(
                    f"point {p.key!r} uses poll group {p.group!r}; "
                    f"defined: {sorted(self.poll_groups)}"
                )
        return self

    def points_in(self, group: str) -> list[Point]:
        return [p for p in self.points if p.group == group]


def shipped_profiles() -> list[str]:
    """Names of the profiles that ship inside the package."""
    folder = resources.files("drivers.modbus") / "profiles"
    return sorted(
        f.name.removesuffix(".yaml") for f in folder.iterdir() if f.name.endswith(".yaml")
    )


# libyaml's parser when PyYAML has it (~8x faster than the pure-Python one): a gateway
# with ten units loads the same profile twenty times at start-up (the start-up check and
# the driver), which took ~0.4 s of its start (issue 19 item 2).
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.lru_cache(maxsize=32)
def _profile_data(text: str) -> Any:
    """The profile's plain YAML data, parsed once per distinct text (validation reads it,
    never changes it)."""
    return yaml.load(text, Loader=_SafeLoader)  # noqa: S506 - a safe loader


def parse_profile(text: str, origin: str = "<profile>") -> Profile:
    try:
        data = _profile_data(text)
    except yaml.YAMLError as exc:
        raise ProfileError(f"{origin}: not valid YAML: {exc}") from None
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        lines = [
            f"{origin}: {'.'.join(str(x) for x in e['loc']) or '<root>'}: "
            + e["msg"].removeprefix("Value error, ")
            for e in exc.errors(include_url=False)
        ]
        raise ProfileError("\n".join(lines)) from None


def load_profile(ref: str) -> Profile:
    """Load a shipped profile by name, or a YAML file by path (anything with / or .yaml)."""
    if "/" in ref or ref.endswith((".yaml", ".yml")):
        path = Path(ref)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ProfileError(f"cannot read profile {ref}: {exc.strerror}") from None
        return parse_profile(text, str(path))
    resource = resources.files("drivers.modbus") / "profiles" / f"{ref}.yaml"
    if not resource.is_file():
        raise ProfileError(f"no shipped profile {ref!r}; shipped: {shipped_profiles()}")
    return parse_profile(resource.read_text(encoding="utf-8"), f"profiles/{ref}.yaml")
