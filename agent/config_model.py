"""The agent's typed configuration: the models, with the driver union from the kinds table.

Loading, line numbers and error messages live in agent/config.py; checks that need files
or registries (run by ``config check`` and at start-up) in agent/config_checks.py.

The ``drivers`` union holds only the kinds a file configures (:func:`configured_kinds`,
:func:`agent_config_model`): importing and building every kind's model cost every
gateway start-up time and memory (issue 19 items 1-2). A file naming an unknown kind, or
none, gets the whole table, so its errors list every kind there is.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import Field, SecretStr, create_model, field_validator, model_validator

from agent.driver import DriverConfigBase, StrictModel
from agent.escalation_config import ReceiptsConfig
from agent.gateway_health_config import GatewayHealthConfig
from agent.kinds import KINDS, Kind
from buffer.config import BufferConfig


def __getattr__(name: str) -> Any:
    """``DRIVER_CONFIGS`` (every kind's model) and ``DriverConfig`` (their union), built
    only when asked for: importing them loads every kind's config module."""
    if name == "DRIVER_CONFIGS":
        return tuple(k.model() for k in KINDS)
    if name == "DriverConfig":
        return _driver_union(KINDS)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _driver_union(kinds: tuple[Kind, ...]) -> Any:
    members: Any = Union[tuple(k.model() for k in kinds)]  # noqa: UP007
    return Annotated[members, Field(discriminator="kind")]


def known_kinds() -> list[str]:
    return sorted(k.name for k in KINDS)


class GatewayConfig(StrictModel):
    id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$",
        description="Gateway id; the MQTT client id and the second topic level.",
    )
    site: str = Field(default="", max_length=128, description="Community/site label.")


class TlsConfig(StrictModel):
    ca: Path = Field(description="CA bundle that signed the broker's certificate.")
    cert: Path = Field(description="This gateway's client certificate (PEM).")
    key: Path = Field(description="Private key of the client certificate; mode 0600 or 0400.")
    server_name: str | None = Field(
        default=None, description="Expected broker name, if it differs from host."
    )


class BrokerEndpoint(StrictModel):
    """One more broker to fail over to (agent/endpoints.py); TLS and credentials are shared."""

    host: str = Field(min_length=1, description="Broker host name or address.")
    port: int | None = Field(default=None, ge=1, le=65535, description="1883 / 8883 if unset.")


class MqttConfig(StrictModel):
    host: str = Field(description="Broker host name or address.")
    port: int | None = Field(default=None, ge=1, le=65535, description="1883 / 8883 if unset.")
    failover: list[BrokerEndpoint] = Field(
        default_factory=list,
        max_length=16,
        description="Further brokers, tried in turn after host:port when the current one fails.",
    )
    tls: TlsConfig | None = Field(default=None, description="TLS with a client certificate.")
    insecure: bool = Field(
        default=False, description="Allow plaintext MQTT. Only for a broker on this host."
    )
    username: str | None = None
    password: SecretStr | None = None
    keepalive_s: int = Field(default=30, ge=5, le=600)
    timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=120,
        description="Deadline of a publish attempt once it is the oldest awaiting its PUBACK.",
    )
    inflight: int = Field(default=64, ge=1, le=1000, description="QoS 1 publishes in flight.")
    batch: int = Field(default=512, ge=1, le=10_000, description="Rows read per outbox batch.")
    reconnect_max_s: float = Field(
        default=6.0,
        ge=1,
        le=3600,
        description="Longest wait between reconnect attempts (agent/backoff.py).",
    )
    refused_backoff_s: float = Field(
        default=60.0, ge=1, le=3600, description="Wait after the broker refused our credentials."
    )

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

    @property
    def endpoints(self) -> list[tuple[str, int]]:
        """Every broker as (host, port): ``host:port`` first, then ``failover`` in order."""
        default = 8883 if self.tls else 1883
        rest = [(e.host, e.port or default) for e in self.failover]
        return [(self.host, self.effective_port), *rest]


class HealthConfig(StrictModel):
    restart_base_s: float = Field(default=1.0, gt=0, description="First restart delay cap.")
    restart_max_s: float = Field(default=300.0, gt=0, description="Largest restart delay.")
    healthy_after_s: float = Field(
        default=60.0, gt=0, description="Run time after which the backoff resets."
    )


class RemoteConfig(StrictModel):
    """Remote management over MQTT v5 (agent/remote/, docs/remote.md). Off unless enabled."""

    enabled: bool = Field(
        default=False, description="Answer the platform's commands on edge/{id}/cmd/{name}."
    )
    apply_health_s: float = Field(
        default=20.0,
        ge=1,
        le=300,
        description="config.apply: how long changed drivers get to run before a rollback.",
    )
    log_lines: int = Field(
        default=500, ge=10, le=5000, description="Log lines kept (redacted) for logs.tail."
    )


class ConsoleConfig(StrictModel):
    """The local web console (agent/console/); absent = off, nothing of it is imported."""

    listen: str = Field(
        default="127.0.0.1:8080",
        pattern=r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$",
        description="host:port to serve on; a non-loopback host needs tls: true.",
    )
    password_hash: SecretStr | None = Field(
        default=None,
        description="scrypt hash set by `edge-agent console passwd`; no login without it.",
    )
    tls: bool = Field(
        default=False, description="Serve HTTPS with the gateway's own certificate (mqtt.tls)."
    )
    cert: Path | None = Field(default=None, description="Certificate instead of mqtt.tls.cert.")
    key: Path | None = Field(default=None, description="Key instead of mqtt.tls.key.")
    session_ttl_s: float = Field(default=8 * 3600, gt=60, le=7 * 86_400)
    apply_health_s: float = Field(
        default=20.0, gt=0, le=600, description="Health window of a saved change before rollback."
    )

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


class AgentConfig(StrictModel):
    gateway: GatewayConfig
    mqtt: MqttConfig
    buffer: BufferConfig
    # The union of the configured kinds, in the subclass agent_config_model() builds.
    drivers: list[DriverConfigBase] = Field(default_factory=list)
    state_dir: Path | None = Field(
        default=None, description="Driver state; defaults to the buffer file's directory."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    supervisor: HealthConfig = Field(default_factory=HealthConfig)
    remote: RemoteConfig = Field(default_factory=RemoteConfig)
    console: ConsoleConfig | None = Field(default=None, description="Local web console; off.")
    health: GatewayHealthConfig | None = Field(
        default=None, description="Gateway health source (agent/gateway_health.py); absent: off."
    )
    receipts: ReceiptsConfig | None = Field(
        default=None, description="Alarm receipts and local escalation; off when absent."
    )

    @field_validator("drivers")
    @classmethod
    def _unique_names(cls, drivers: list[Any]) -> list[Any]:
        seen: set[str] = set()
        for d in drivers:
            if d.name in seen:
                raise ValueError(f"driver name {d.name!r} is used twice")
            seen.add(d.name)
        return drivers

    @model_validator(mode="after")
    def _outputs_are_declared(self) -> AgentConfig:
        """An escalation output must be one a driver declares (agent/actuator.py)."""
        if self.receipts is None:
            return self
        declared = {n for d in self.drivers for n in getattr(d, "outputs", {})}
        missing = [n for n in self.receipts.escalation.outputs if n not in declared]
        if missing:
            raise ValueError(
                f"receipts.escalation.outputs names {missing}, which no driver declares "
                f"(declared: {sorted(declared) or 'none'})"
            )
        return self

    @property
    def resolved_state_dir(self) -> Path:
        return self.state_dir if self.state_dir is not None else self.buffer.path.parent


def configured_kinds(data: Any, kinds: tuple[Kind, ...] = KINDS) -> tuple[Kind, ...]:
    """The table's kinds the document's ``drivers`` entries name, in table order; the
    whole table when an entry names no kind, an unknown one, or there are none."""
    entries = data.get("drivers") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        return kinds
    wanted = {e.get("kind") if isinstance(e, dict) else None for e in entries}
    chosen = tuple(k for k in kinds if k.name in wanted)
    return chosen if len(chosen) == len(wanted) else kinds


@functools.cache
def agent_config_model(kinds: tuple[Kind, ...] = KINDS) -> type[AgentConfig]:
    """:class:`AgentConfig` whose ``drivers`` union is ``kinds`` (those a file configures,
    the whole table, or a test's)."""
    drivers: Any = list.__class_getitem__(_driver_union(kinds))
    model: type[AgentConfig] = create_model(
        "AgentConfig", __base__=AgentConfig, drivers=(drivers, Field(default_factory=list))
    )
    return model
