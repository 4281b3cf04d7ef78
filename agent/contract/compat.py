"""Is a schema still compatible with the released one? (issue 13 item 1, docs/events.md)

The platform codes against the last released contract (docs/contract/released/). A new
schema under the *same* major version must keep every promise of the released one:

* no property removed, and none that was required made optional;
* no new required property;
* no type narrowed (a JSON type dropped, e.g. ``integer | null`` -> ``integer``);
* no enum or const value removed, no enum added where any value was allowed;
* no tighter bounds (minimum, maximum, lengths), no new or changed pattern or format.

Adding an optional property, widening a type or adding an enum value is compatible. An
incompatible change needs a new major version (agent/event_types.py, or PAYLOADS in
agent/contract/schemas.py); the released schema of the old version then no longer binds.

This checks the subset of JSON Schema that pydantic generates (objects, arrays,
``anyOf``/``oneOf`` unions, ``$ref`` into ``$defs``, enums, consts, bounds) and treats
any union branch of the old schema as kept when some branch of the new one is
compatible with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
_ALL_TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})

Node = Mapping[str, Any]


class _Docs:
    """The two root documents, for resolving ``#/$defs/...`` references in each."""

    def __init__(self, old: Node, new: Node) -> None:
        self.old, self.new = old, new

    @staticmethod
    def resolve(root: Node, node: Node) -> Node:
        seen = 0
        while "$ref" in node and seen < 32:
            ref = str(node["$ref"])
            if not ref.startswith("#/"):
                raise ValueError(f"only local references are supported, got {ref!r}")
            target: Any = root
            for part in ref[2:].split("/"):
                target = target[part]
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
            seen += 1
        return node


def _branches(node: Node) -> list[Node]:
    for key in ("anyOf", "oneOf"):
        if key in node:
            return list(node[key])
    return [node]


def _types(node: Node) -> frozenset[str]:
    if "const" in node:
        return frozenset({_json_type(node["const"])})
    if "enum" in node:
        return frozenset(_json_type(v) for v in node["enum"])
    kind = node.get("type")
    if kind is None:
        return _ALL_TYPES
    found = frozenset([kind] if isinstance(kind, str) else kind)
    return found | {"integer"} if "number" in found else found


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _values(node: Node) -> list[Any] | None:
    """The allowed values, or None when any value of the types is allowed."""
    if "const" in node:
        return [node["const"]]
    if "enum" in node:
        return list(node["enum"])
    return None


def _bounds(old: Node, new: Node, path: str) -> list[str]:
    out: list[str] = []
    for key in _LOWER_BOUNDS:
        if key in new and (key not in old or new[key] > old[key]):
            out.append(f"{path}: {key} tightened to {new[key]} (was {old.get(key)})")
    for key in _UPPER_BOUNDS:
        if key in new and (key not in old or new[key] < old[key]):
            out.append(f"{path}: {key} tightened to {new[key]} (was {old.get(key)})")
    for key in ("pattern", "format"):
        if key in new and new.get(key) != old.get(key):
            out.append(f"{path}: {key} changed to {new[key]!r} (was {old.get(key)!r})")
    return out


def _scalar(old: Node, new: Node, path: str) -> list[str]:
    out: list[str] = []
    lost = _types(old) - _types(new)
    if lost:
        out.append(f"{path}: type narrowed, no longer allows {', '.join(sorted(lost))}")
    old_values, new_values = _values(old), _values(new)
    if new_values is not None:
        if old_values is None:
            out.append(f"{path}: restricted to the values {new_values}")
        else:
            gone = [v for v in old_values if v not in new_values]
            if gone:
                out.append(f"{path}: enum value(s) removed: {gone}")
    return out + _bounds(old, new, path)


class _Checker:
    def __init__(self, old_root: Node, new_root: Node) -> None:
        self.docs = _Docs(old_root, new_root)

    def compare(self, old: Node, new: Node, path: str) -> list[str]:
        old = self.docs.resolve(self.docs.old, old)
        new = self.docs.resolve(self.docs.new, new)
        old_branches, new_branches = _branches(old), _branches(new)
        if len(old_branches) == 1 and len(new_branches) == 1:
            return self._single(old_branches[0], new_branches[0], path)
        out: list[str] = []
        for branch in old_branches:
            branch = self.docs.resolve(self.docs.old, branch)
            tries = [
                self.compare(branch, self.docs.resolve(self.docs.new, b), path)
                for b in new_branches
            ]
            best = min(tries, key=len)
            out += best
        return out

    def _single(self, old: Node, new: Node, path: str) -> list[str]:
        out = _scalar(old, new, path)
        if out:
            return out
        if "properties" in old or "properties" in new:
            out += self._object(old, new, path)
        if "items" in old and "items" in new:
            out += self.compare(old["items"], new["items"], f"{path}[]")
        if isinstance(new.get("additionalProperties"), Mapping) and isinstance(
            old.get("additionalProperties"), Mapping
        ):
            out += self.compare(
                old["additionalProperties"], new["additionalProperties"], f"{path}{{*}}"
            )
        elif old.get("additionalProperties", True) is not False and (
            new.get("additionalProperties") is False
        ):
            out.append(f"{path}: no longer allows other properties")
        return out

    def _object(self, old: Node, new: Node, path: str) -> list[str]:
        out: list[str] = []
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_req, new_req = set(old.get("required", ())), set(new.get("required", ()))
        for name, sub in old_props.items():
            where = f"{path}.{name}"
            if name not in new_props:
                out.append(f"{where}: field removed")
                continue
            if name in old_req and name not in new_req:
                out.append(f"{where}: no longer required (the platform may rely on it)")
            out += self.compare(sub, new_props[name], where)
        for name in sorted(new_req - old_req):
            out.append(f"{path}.{name}: new required field")
        return out


def incompatibilities(old: Node, new: Node) -> list[str]:
    """Every way ``new`` breaks a promise of ``old`` (empty: compatible)."""
    return _Checker(old, new).compare(old, new, "$")


def parse_id(schema_id: str) -> tuple[str, int]:
    """``urn:edge-agent:schema:<name>:v<N>`` -> (name, N)."""
    head, _, version = schema_id.rpartition(":v")
    prefix, _, name = head.rpartition(":")
    if not prefix or not name or not version.isdigit():
        raise ValueError(f"not a contract schema id: {schema_id!r}")
    return name, int(version)


def check_release(released: Sequence[Node], current: Sequence[Node]) -> list[str]:
    """Problems of the current schemas against the released ones (empty: none).

    A released schema binds while its name keeps the same major version: then every
    change must be compatible. A higher version is a deliberate break (allowed); a lower
    one, or a released name that is gone (an event type no longer sent), is a problem.
    """
    now = {parse_id(str(doc["$id"]))[0]: doc for doc in current}
    problems: list[str] = []
    for old in released:
        name, version = parse_id(str(old["$id"]))
        new = now.get(name)
        if new is None:
            problems.append(f"{name}: in the released contract, no longer in this one")
            continue
        new_version = parse_id(str(new["$id"]))[1]
        if new_version > version:
            continue
        if new_version < version:
            problems.append(f"{name}: version v{new_version} is below the released v{version}")
            continue
        problems += [
            f"{name} v{version}: {p} (incompatible: bump the version)"
            for p in incompatibilities(old, new)
        ]
    return problems
