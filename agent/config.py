"""The agent's typed configuration and its YAML loader.

Errors are reported as ``FILE:LINE key.path: message`` lines so an installer can go
straight to the mistake; unknown keys get a "did you mean" suggestion.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import stat
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
from drivers.synthetic.config import SyntheticConfig
from vision.config import CameraConfig

# Every driver kind's config model; the ``kind`` key selects one. Keep in step with
# agent.registry.DRIVERS (a test checks).
DRIVER_CONFIGS: tuple[type[BaseModel], ...] = (ModbusConfig, SyntheticConfig, CameraConfig)

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
        where = f"{self.file}:{self.line}"
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
    """Follow ``loc`` from AgentConfig through nested models to the model that owns it."""
    model: Any = AgentConfig
    node: Any = data
    for part in loc:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        if isinstance(part, int):
            return None
        field = model.model_fields.get(part)
        if field is None:
            return None
        node = node.get(part) if isinstance(node, dict) else None
        model = _unwrap(field.annotation, node)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _unwrap(annotation: Any, node: Any) -> Any:
    """Reduce Optional/list/Annotated/union annotations to the model matching ``node``."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _unwrap(get_args(annotation)[0], node)
    if origin is list:
        return _unwrap(get_args(annotation)[0], None)
    if origin in (Union, getattr(__import__("types"), "UnionType", None)):
        for arg in get_args(annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
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
    parent = loc[:-1]
    candidates: list[str] = []
    if parent and parent[0] == "drivers" and len(parent) == 2:
        node = _get(data, parent)
        kind = node.get("kind") if isinstance(node, dict) else None
        for kind_model in DRIVER_CONFIGS:
            if get_args(kind_model.model_fields["kind"].annotation) == (kind,):
                candidates = list(kind_model.model_fields)
    else:
        model = _model_at(parent, data)
        if model is not None:
            candidates = list(model.model_fields)
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
        yield ConfigIssue(file, _line_for(lines, loc), _format_path(loc), msg)


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
