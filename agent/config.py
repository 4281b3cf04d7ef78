"""The agent's typed configuration and its YAML loader.

Errors are reported as ``FILE:LINE key.path: message`` lines so an installer can go
straight to the mistake; unknown keys get a "did you mean" suggestion.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import stat
import types
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from buffer.config import BufferConfig
from drivers.modbus.config import ModbusConfig
from drivers.serial.config import SerialConfig
from drivers.synthetic.config import SyntheticConfig
from vision.config import CameraConfig

# Every driver kind's config model; the ``kind`` key selects one. Keep in step with
# agent.registry.DRIVERS (a test checks).
DRIVER_CONFIGS: tuple[type[BaseModel], ...] = (
    ModbusConfig,
    SyntheticConfig,
    CameraConfig,
    SerialConfig,
)

DriverConfig = Annotated[Union[DRIVER_CONFIGS], Field(discriminator="kind")]  # type: ignore[valid-type]  # noqa: UP007


def known_kinds() -> list[str]:
    return sorted(get_args(m.model_fields["kind"].annotation)[0] for m in DRIVER_CONFIGS)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GatewayConfig(_Strict):
    id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$",
        description="Gateway id; the MQTT client id and the second topic level.",
    )
    site: str = Field(default="", max_length=128, description="Community/site label.")


class TlsConfig(_Strict):
    ca: Path = Field(description="CA bundle that signed the broker's certificate.")
    cert: Path = Field(description="This gateway's client certificate (PEM).")
    key: Path = Field(description="Private key of the client certificate; mode 0600 or 0400.")
    server_name: str | None = Field(
        default=None, description="Expected broker name, if it differs from host."
    )


class MqttConfig(_Strict):
    host: str = Field(description="Broker host name or address.")
    port: int | None = Field(default=None, ge=1, le=65535, description="1883 / 8883 if unset.")
    tls: TlsConfig | None = Field(default=None, description="TLS with a client certificate.")
    insecure: bool = Field(
        default=False, description="Allow plaintext MQTT. Only for a broker on this host."
    )
    username: str | None = None
    password: SecretStr | None = None
    keepalive_s: int = Field(default=30, ge=5, le=600)
    timeout_s: float = Field(default=10.0, gt=0, le=120, description="Per-publish deadline.")
    inflight: int = Field(default=64, ge=1, le=1000, description="QoS 1 publishes in flight.")
    batch: int = Field(default=512, ge=1, le=10_000, description="Rows read per outbox batch.")
    reconnect_max_s: float = Field(default=60.0, ge=1, le=3600)

    @model_validator(mode="after")
    def _no_silent_plaintext(self) -> MqttConfig:
        if self.tls is None and not self.insecure:
            raise ValueError(
                "plaintext MQTT refused: configure tls: {ca, cert, key} "
                "or set insecure: true explicitly"
            )
        if self.tls is not None and self.insecure:
            raise ValueError("set either tls or insecure: true, not both")
        return self

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return 8883 if self.tls else 1883


class HealthConfig(_Strict):
    restart_base_s: float = Field(default=1.0, gt=0, description="First restart delay cap.")
    restart_max_s: float = Field(default=300.0, gt=0, description="Largest restart delay.")
    healthy_after_s: float = Field(
        default=60.0, gt=0, description="Run time after which the backoff resets."
    )


class AgentConfig(_Strict):
    gateway: GatewayConfig
    mqtt: MqttConfig
    buffer: BufferConfig
    drivers: list[DriverConfig] = Field(default_factory=list)
    state_dir: Path | None = Field(
        default=None, description="Driver state; defaults to the buffer file's directory."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    supervisor: HealthConfig = Field(default_factory=HealthConfig)

    @field_validator("drivers")
    @classmethod
    def _unique_names(cls, drivers: list[Any]) -> list[Any]:
        seen: set[str] = set()
        for d in drivers:
            if d.name in seen:
                raise ValueError(f"driver name {d.name!r} is used twice")
            seen.add(d.name)
        return drivers

    @property
    def resolved_state_dir(self) -> Path:
        return self.state_dir if self.state_dir is not None else self.buffer.path.parent


@dataclass(frozen=True)
class ConfigIssue:
    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        # Line 0: the problem is the file as a whole (missing, unreadable).
        where = f"{self.file}:{self.line}" if self.line > 0 else f"{self.file}:"
        return f"{where} {self.path}: {self.message}" if self.path else f"{where} {self.message}"


class ConfigError(Exception):
    """The config file is unreadable or invalid; ``issues`` lists every problem found."""

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


@dataclass(frozen=True)
class LoadedConfig:
    config: AgentConfig
    path: Path
    sha256: str


# ---------------------------------------------------------------------------------------
# YAML with line numbers

_Loc = tuple[str | int, ...]


def _node_lines(node: yaml.Node, prefix: _Loc, out: dict[_Loc, int]) -> None:
    out.setdefault(prefix, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            # A key's own line is the best place to point at for that key.
            out[(*prefix, key)] = key_node.start_mark.line + 1
            _node_lines(value_node, (*prefix, key), out)
            out[(*prefix, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _node_lines(item, (*prefix, i), out)


def _line_for(lines: dict[_Loc, int], loc: _Loc) -> int:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return 1


def _format_path(loc: _Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _model_at(loc: _Loc, data: Any) -> type[BaseModel] | None:
    """Follow ``loc`` from AgentConfig through nested models, lists and driver kinds."""
    target: Any = AgentConfig
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


def _did_you_mean(loc: _Loc, data: Any) -> str:
    if not loc or not isinstance(loc[-1], str):
        return ""
    model = _model_at(loc[:-1], data)
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


def _issues_from(
    err: ValidationError, data: Any, file: str, lines: dict[_Loc, int]
) -> Iterator[ConfigIssue]:
    for e in err.errors(include_url=False):
        loc = _clean_loc(tuple(e["loc"]), data)
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key" + _did_you_mean(loc, data)
        elif e["type"] == "union_tag_invalid":
            node = _get(data, loc)
            kind = node.get("kind") if isinstance(node, dict) else None
            msg = f"unknown driver kind {kind!r}; expected one of: " + ", ".join(known_kinds())
            loc = (*loc, "kind")
        elif e["type"] == "union_tag_not_found":
            msg = "missing key 'kind'"
        elif e["type"] == "value_error" and msg.startswith("Value error, "):
            msg = msg.removeprefix("Value error, ")
            if loc == ("drivers",) and msg.startswith("driver name "):
                loc = _second_use_of_name(data) or loc
        yield ConfigIssue(file, _line_for(lines, loc), _format_path(loc), msg)


def _second_use_of_name(data: Any) -> _Loc | None:
    """Where a driver name is used the second time, to point at that line."""
    seen: set[Any] = set()
    for i, d in enumerate(data.get("drivers") or []):
        name = d.get("name") if isinstance(d, dict) else None
        if name in seen:
            return ("drivers", i, "name")
        seen.add(name)
    return None


def _duplicate_keys(node: yaml.Node, file: str, prefix: _Loc = ()) -> Iterator[ConfigIssue]:
    """YAML lets a later key silently replace an earlier one; an installer never means it."""
    if isinstance(node, yaml.MappingNode):
        first: dict[Any, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.value in first:
                yield ConfigIssue(
                    file,
                    line,
                    _format_path((*prefix, key_node.value)),
                    f"key given twice (first on line {first[key_node.value]}); remove one of them",
                )
            else:
                first[key_node.value] = line
            yield from _duplicate_keys(value_node, file, (*prefix, key_node.value))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _duplicate_keys(item, file, (*prefix, i))


def _check_key_file(cfg: AgentConfig, file: str, lines: dict[_Loc, int]) -> list[ConfigIssue]:
    tls = cfg.mqtt.tls
    if tls is None:
        return []
    issues: list[ConfigIssue] = []
    for key, p in (("ca", tls.ca), ("cert", tls.cert), ("key", tls.key)):
        loc: _Loc = ("mqtt", "tls", key)
        try:
            mode = p.stat().st_mode
        except OSError as exc:
            issues.append(
                ConfigIssue(
                    file,
                    _line_for(lines, loc),
                    _format_path(loc),
                    f"cannot read {p}: {exc.strerror}",
                )
            )
            continue
        if key == "key" and mode & (stat.S_IRWXG | stat.S_IRWXO):
            issues.append(
                ConfigIssue(
                    file,
                    _line_for(lines, loc),
                    _format_path(loc),
                    f"private key {p} is accessible by group/others "
                    f"(mode {stat.S_IMODE(mode):04o}); run: chmod 600 {p}",
                )
            )
    return issues


def parse_config(text: str, file: str = "<config>", *, check_files: bool = True) -> AgentConfig:
    """Validate YAML ``text``; raise :class:`ConfigError` listing every problem."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([ConfigIssue(file, line, "", f"YAML syntax error: {problem}")]) from None
    lines: dict[_Loc, int] = {}
    if node is not None:
        _node_lines(node, (), lines)
        duplicates = list(_duplicate_keys(node, file))
        if duplicates:
            raise ConfigError(duplicates)
    if not isinstance(data, dict):
        raise ConfigError([ConfigIssue(file, 1, "", "the file must hold a mapping of keys")])
    try:
        cfg = AgentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(list(_issues_from(exc, data, file, lines))) from None
    if check_files:
        issues = _check_key_file(cfg, file, lines)
        if issues:
            raise ConfigError(issues)
    return cfg


def load_config(path: str | os.PathLike[str], *, check_files: bool = True) -> LoadedConfig:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError([ConfigIssue(str(p), 0, "", f"cannot read: {exc.strerror}")]) from None
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise ConfigError([ConfigIssue(str(p), 1, "", "not UTF-8 text")]) from None
    cfg = parse_config(text, str(p), check_files=check_files)
    return LoadedConfig(cfg, p, hashlib.sha256(raw).hexdigest())
