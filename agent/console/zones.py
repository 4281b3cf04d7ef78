"""The zone editor's server side: check an edited zone list, then write it into the config text.

The page sends a camera's whole zone list (id, kind, grace time, polygon as frame fractions).
Every problem is reported against the zone and field it belongs to, so the page can show it
inline, and nothing is saved while any remains:

* fewer than 3 points, a point outside the frame (0..1), crossing edges or no area
  (:func:`vision.geometry.check_polygon`, the same rule the config loader applies);
* an id that is not a valid zone id, or used twice; an unknown kind; a grace time outside
  0..86 400 s.

Keys the editor does not show (schedules, hysteresis, elevator, ...) are kept from the zone
of the same id. The new YAML is the current config text with that camera's ``zones``
replaced; it then goes through the staged apply (agent/staged_apply.py), which validates it
again as ``config check`` does. Comments in the config file are not preserved by the
rewrite (PyYAML drops them); docs/console.md says so.
"""

from __future__ import annotations

import math
import re
from typing import Any, get_args

import yaml

from vision.config import ZoneKind
from vision.geometry import check_polygon

ZONE_KINDS: tuple[str, ...] = get_args(ZoneKind)
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
MAX_ZONES = 32
MAX_POINTS = 64

Errors = dict[str, str]  # "zones[i].field" (or "zones[i]", "zones") -> message


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _points(raw: Any) -> list[tuple[float, float]] | str:
    if not isinstance(raw, list):
        return "the polygon must be a list of [x, y] points"
    if len(raw) > MAX_POINTS:
        return f"at most {MAX_POINTS} points"
    out: list[tuple[float, float]] = []
    for p in raw:
        if not (isinstance(p, list | tuple) and len(p) == 2):
            return "every point is [x, y]"
        x, y = _number(p[0]), _number(p[1])
        if x is None or y is None:
            return "every point is [x, y] with numbers"
        out.append((x, y))
    return out


def check_zone(i: int, raw: Any) -> tuple[dict[str, Any] | None, Errors]:
    """One edited zone: its clean form, or the problems by field."""
    where = f"zones[{i}]"
    if not isinstance(raw, dict):
        return None, {where: "each zone is an object"}
    errors: Errors = {}
    zid = raw.get("id")
    if not isinstance(zid, str) or not _ID.match(zid):
        errors[f"{where}.id"] = "name: lower-case letters, digits, - and _ (up to 63)"
    kind = raw.get("kind")
    if kind not in ZONE_KINDS:
        errors[f"{where}.kind"] = f"kind must be one of {', '.join(ZONE_KINDS)}"
    grace = _number(raw.get("grace_s"))
    if grace is None or not 0 <= grace <= 86_400:
        errors[f"{where}.grace_s"] = "grace time is seconds, 0 to 86400"
    points = _points(raw.get("polygon"))
    if isinstance(points, str):
        errors[f"{where}.polygon"] = points
    else:
        try:
            check_polygon(points)
        except ValueError as exc:
            errors[f"{where}.polygon"] = str(exc)
    if errors:
        return None, errors
    assert isinstance(points, list)
    clean = {"id": zid, "kind": kind, "grace_s": grace,
             "polygon": [[round(x, 4), round(y, 4)] for x, y in points]}  # fmt: skip
    return clean, {}


def check_zones(raw: Any) -> tuple[list[dict[str, Any]], Errors]:
    """The whole list: each zone's problems, then duplicate names; clean zones if none."""
    if not isinstance(raw, list) or not raw:
        return [], {"zones": "a camera needs at least one zone"}
    if len(raw) > MAX_ZONES:
        return [], {"zones": f"at most {MAX_ZONES} zones per camera"}
    zones: list[dict[str, Any]] = []
    errors: Errors = {}
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        clean, problems = check_zone(i, item)
        errors.update(problems)
        zid = item.get("id") if isinstance(item, dict) else None
        if isinstance(zid, str) and zid in seen:
            errors[f"zones[{i}].id"] = f"the name {zid!r} is already used by zone {seen[zid] + 1}"
        elif isinstance(zid, str):
            seen[zid] = i
        if clean is not None:
            zones.append(clean)
    return (zones, {}) if not errors else ([], errors)


def with_zones(text: str, camera: str, zones: list[dict[str, Any]]) -> str:
    """``text`` (the live config YAML) with camera ``camera``'s zones replaced by ``zones``."""
    doc = yaml.safe_load(text)
    drivers = doc.get("drivers") if isinstance(doc, dict) else None
    entry = next(
        (d for d in drivers or [] if isinstance(d, dict) and d.get("name") == camera), None
    )
    if entry is None or entry.get("kind") != "camera":
        raise KeyError(camera)
    old = {z.get("id"): z for z in entry.get("zones") or [] if isinstance(z, dict)}
    merged = []
    for z in zones:
        kept = {k: v for k, v in old.get(z["id"], {}).items() if k not in z}
        if z["kind"] != "elevator_car":
            kept.pop("elevator", None)  # only elevator_car zones name their lift
        merged.append({**z, **kept})
    entry["zones"] = merged
    return str(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
