"""Start-up check of a ``modbus`` entry: what ``config check`` must catch before the bus.

Without it a missing profile or a misspelled hold-time key surfaced only once the driver
ran, as a restart with backoff (issue 8). The same rules as ``drivers.modbus.driver``'s
own guard, reported per key so the installer gets ``FILE:LINE`` and "did you mean".
Imports no pymodbus: profiles and the taxonomy are plain data.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path

from agent.driver import CheckContext, ConfigProblem
from drivers.modbus.config import ModbusConfig
from drivers.modbus.profile import Profile, ProfileError, load_profile
from drivers.modbus.taxonomy import KINDS


def _suggest(word: str, known: Iterable[str]) -> str:
    """Closest known key, ignoring case (fault keys are ENTRAP_LEVEL, not entrap_level)."""
    by_lower = {k.lower(): k for k in known}
    match = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean {by_lower[match[0]]!r}?)" if match else ""


def profile_ref(ref: str, cwd: Path) -> str:
    is_path = "/" in ref or ref.endswith((".yaml", ".yml"))
    return str(cwd / ref) if is_path and not Path(ref).is_absolute() else ref


def check_modbus(config: ModbusConfig, context: CheckContext) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    # Ten units of one profile are one load: each load finds the resource and validates
    # the profile model again (~1 ms a unit of every start-up, issue 19 item 2).
    loaded: dict[str, Profile | ProfileError] = {}
    for i, device in enumerate(config.devices):
        where = ("devices", i)
        for key in sorted(set(device.holds_s) - set(KINDS)):
            problems.append(
                ConfigProblem(
                    (*where, "holds_s", key),
                    f"no fault rule {key!r}" + _suggest(key, KINDS),
                )
            )
        ref = profile_ref(device.profile, context.cwd)
        if ref not in loaded:
            try:
                loaded[ref] = load_profile(ref)
            except ProfileError as exc:
                loaded[ref] = exc
        profile = loaded[ref]
        if isinstance(profile, ProfileError):
            first = str(profile).splitlines()[0]
            problems.append(ConfigProblem((*where, "profile"), first))
            continue
        for group in sorted(set(device.poll_periods_ms) - set(profile.poll_groups)):
            problems.append(
                ConfigProblem(
                    (*where, "poll_periods_ms", group),
                    f"profile {profile.name} has no poll group {group!r}"
                    + _suggest(group, profile.poll_groups),
                )
            )
    return problems
