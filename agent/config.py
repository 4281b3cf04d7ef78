"""Loading the agent's config: YAML to typed models, with ``FILE:LINE key.path`` errors.

Errors are reported as ``FILE:LINE key.path: message`` lines so an installer can go
straight to the mistake; unknown keys get a "did you mean" suggestion. The models are in
agent/config_model.py (re-exported here), the bounded YAML reader in agent/config_yaml.py
and the start-up checks that need files in agent/config_checks.py.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from agent.config_checks import Problem, ServiceUser, startup_problems
from agent.config_model import (
    AgentConfig,
    GatewayConfig,
    HealthConfig,
    MqttConfig,
    TlsConfig,
    agent_config_model,
    configured_kinds,
    known_kinds,
)
from agent.config_yaml import (
    ConfigError,
    ConfigIssue,
    duplicate_keys,
    format_path,
    line_for,
    load_yaml,
    node_lines,
    read_bounded,
    scalar_text,
)
from agent.kinds import KINDS, Kind

__all__ = [
    "AgentConfig",
    "ConfigError",
    "ConfigIssue",
    "GatewayConfig",
    "HealthConfig",
    "LoadedConfig",
    "MqttConfig",
    "TlsConfig",
    "known_kinds",
    "load_config",
    "parse_config",
]

_Loc = tuple[str | int, ...]


def __getattr__(name: str) -> Any:
    """``DRIVER_CONFIGS`` and ``DriverConfig`` as before, built only when asked for
    (they import every kind's config model; see agent/config_model.py)."""
    if name in ("DRIVER_CONFIGS", "DriverConfig"):
        from agent import config_model

        return getattr(config_model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class LoadedConfig:
    config: AgentConfig
    path: Path
    sha256: str
    # Line of every key path, for reporting problems found after parsing.
    lines: dict[_Loc, int] = field(default_factory=dict, compare=False, repr=False)

    def issues(self, problems: list[Problem]) -> list[ConfigIssue]:
        return to_issues(problems, str(self.path), self.lines)


def to_issues(problems: list[Problem], file: str, lines: dict[_Loc, int]) -> list[ConfigIssue]:
    return [ConfigIssue(file, line_for(lines, loc), format_path(loc), m) for loc, m in problems]


def _kind_names(root: type[BaseModel]) -> list[str]:
    """The ``kind`` values the ``drivers`` union of ``root`` accepts."""
    item = get_args(root.model_fields["drivers"].annotation)[0]
    union = get_args(item)[0] if get_origin(item) is Annotated else item
    models = get_args(union) or (union,)
    return sorted(str(get_args(m.model_fields["kind"].annotation)[0]) for m in models)


def _model_at(loc: _Loc, data: Any, root: type[BaseModel]) -> type[BaseModel] | None:
    """Follow ``loc`` from ``root`` through nested models, lists and driver kinds."""
    target: Any = root
    node: Any = data
    for part in loc:
        target = _resolve(target, node)
        if isinstance(part, int):
            if get_origin(target) is not list or not isinstance(node, list):
                return None
            target = get_args(target)[0]
            node = node[part] if part < len(node) else None
            continue
        if not (isinstance(target, type) and issubclass(target, BaseModel)):
            return None
        field = target.model_fields.get(part)
        if field is None:
            return None
        node = node.get(part) if isinstance(node, dict) else None
        target = field.annotation
    target = _resolve(target, node)
    return target if isinstance(target, type) and issubclass(target, BaseModel) else None


def _resolve(annotation: Any, node: Any) -> Any:
    """Strip Annotated/Optional; pick the union member whose ``kind`` matches ``node``."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _resolve(get_args(annotation)[0], node)
    if origin in (Union, types.UnionType):
        models = [
            a for a in get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)
        ]
        kind = node.get("kind") if isinstance(node, dict) else None
        for m in models:
            field = m.model_fields.get("kind")
            if field is not None and kind in get_args(field.annotation):
                return m
        lists = [a for a in get_args(annotation) if get_origin(a) is list]
        if isinstance(node, list) and lists:
            return lists[0]
        return models[0] if len(models) == 1 else annotation
    return annotation


def _clean_loc(loc: tuple[Any, ...], data: Any) -> _Loc:
    """Drop pydantic's union-tag segments (``synthetic`` in drivers.0.synthetic.count)."""
    out: list[str | int] = []
    node: Any = data
    for part in loc:
        if isinstance(node, dict) and part not in node and isinstance(part, str):
            if "kind" in node and node.get("kind") == part:
                continue
            if isinstance(part, str) and "[" in part:  # function-after validators etc.
                continue
        out.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(out)


def _did_you_mean(loc: _Loc, data: Any, root: type[BaseModel]) -> str:
    if not loc or not isinstance(loc[-1], str):
        return ""
    model = _model_at(loc[:-1], data, root)
    candidates = list(model.model_fields) if model is not None else []
    match = difflib.get_close_matches(loc[-1], candidates, n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _get(data: Any, loc: _Loc) -> Any:
    node = data
    for part in loc:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return None
    return node


def _quote_hint(value: Any, typed: str | None) -> str:
    """Why a text key got a number, and how to keep it text (issue 11 finding 5).

    YAML reads an unquoted ``31101234567890123456`` (a lift registration code) as an
    integer, ``0012`` as octal 10 and ``1_000`` as 1000, so the hint quotes back what the
    installer typed rather than the number.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    typed = typed or str(value)
    return f'; YAML read {typed} as the number {value!r}: quote it ("{typed}") to keep it text'


def _issues_from(
    err: ValidationError,
    data: Any,
    file: str,
    lines: dict[_Loc, int],
    root: type[BaseModel],
    node: Any = None,
) -> Iterator[ConfigIssue]:
    for e in err.errors(include_url=False):
        loc = _clean_loc(tuple(e["loc"]), data)
        msg = e["msg"]
        if e["type"] == "string_type":
            msg += _quote_hint(e["input"], scalar_text(node, loc))
        elif e["type"] == "extra_forbidden":
            msg = "unknown key" + _did_you_mean(loc, data, root)
        elif e["type"] == "union_tag_invalid":
            node = _get(data, loc)
            kind = node.get("kind") if isinstance(node, dict) else None
            known = _kind_names(root)
            msg = f"unknown driver kind {kind!r}; expected one of: " + ", ".join(known)
            loc = (*loc, "kind")
        elif e["type"] == "union_tag_not_found":
            msg = "missing key 'kind'"
        elif e["type"] == "value_error" and msg.startswith("Value error, "):
            msg = msg.removeprefix("Value error, ")
            if loc == ("drivers",) and msg.startswith("driver name "):
                loc = _second_use_of_name(data) or loc
        yield ConfigIssue(file, line_for(lines, loc), format_path(loc), msg)


def _second_use_of_name(data: Any) -> _Loc | None:
    """Where a driver name is used the second time, to point at that line."""
    seen: set[Any] = set()
    for i, d in enumerate(data.get("drivers") or []):
        name = d.get("name") if isinstance(d, dict) else None
        if name in seen:
            return ("drivers", i, "name")
        seen.add(name)
    return None


def parse_document(
    text: str,
    file: str = "<config>",
    *,
    kinds: tuple[Kind, ...] = KINDS,
) -> tuple[AgentConfig, dict[_Loc, int]]:
    """Validate YAML ``text`` against the schema; the config and the line of each key."""
    node, data = load_yaml(text, file)
    lines: dict[_Loc, int] = {}
    if node is not None:
        node_lines(node, (), lines)
        duplicates = list(duplicate_keys(node, file))
        if duplicates:
            raise ConfigError(duplicates)
    if not isinstance(data, dict):
        raise ConfigError([ConfigIssue(file, 1, "", "the file must hold a mapping of keys")])
    root = agent_config_model(configured_kinds(data, kinds))
    try:
        cfg = root.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(list(_issues_from(exc, data, file, lines, root, node))) from None
    return cfg, lines


def parse_config(
    text: str,
    file: str = "<config>",
    *,
    check_files: bool = True,
    kinds: tuple[Kind, ...] = KINDS,
    user: ServiceUser | None = None,
) -> AgentConfig:
    """Validate YAML ``text``; raise :class:`ConfigError` listing every problem.

    With ``check_files`` the start-up checks run too (agent/config_checks.py).
    """
    cfg, lines = parse_document(text, file, kinds=kinds)
    if check_files:
        issues = to_issues(startup_problems(cfg, kinds=kinds, user=user), file, lines)
        if issues:
            raise ConfigError(issues)
    return cfg


def load_config(
    path: str | os.PathLike[str],
    *,
    check_files: bool = True,
    kinds: tuple[Kind, ...] = KINDS,
    user: ServiceUser | None = None,
) -> LoadedConfig:
    p = Path(path)
    raw = read_bounded(p)
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise ConfigError([ConfigIssue(str(p), 1, "", "not UTF-8 text")]) from None
    cfg, lines = parse_document(text, str(p), kinds=kinds)
    loaded = LoadedConfig(cfg, p, hashlib.sha256(raw).hexdigest(), lines)
    if check_files:
        issues = loaded.issues(startup_problems(cfg, kinds=kinds, user=user))
        if issues:
            raise ConfigError(issues)
    return loaded
