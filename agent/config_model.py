"""The agent's typed configuration: the models, with the driver union from the kinds table.

Loading, line numbers and error messages live in agent/config.py; checks that need files
or registries (run by ``config check`` and at start-up) in agent/config_checks.py.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import Field, SecretStr, create_model, field_validator, model_validator

from agent.driver import StrictModel
from agent.escalation_config import ReceiptsConfig
from agent.kinds import KINDS, Kind
from buffer.config import BufferConfig

# Every kind's config model; the ``kind`` key selects one (agent/kinds.py is the table).
DRIVER_CONFIGS: tuple[type[StrictModel], ...] = tuple(k.config for k in KINDS)

DriverConfig = Annotated[Union[DRIVER_CONFIGS], Field(discriminator="kind")]  # type: ignore[valid-type]  # noqa: UP007


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


class MqttConfig(StrictModel):
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
    reconnect_max_s: float = Field(default=10.0, ge=1, le=3600)  # see agent/backoff.py

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


class HealthConfig(StrictModel):
    restart_base_s: float = Field(default=1.0, gt=0, description="First restart delay cap.")
    restart_max_s: float = Field(default=300.0, gt=0, description="Largest restart delay.")
    healthy_after_s: float = Field(
        default=60.0, gt=0, description="Run time after which the backoff resets."
    )


class AgentConfig(StrictModel):
    gateway: GatewayConfig
    mqtt: MqttConfig
    buffer: BufferConfig
    drivers: list[DriverConfig] = Field(default_factory=list)
    state_dir: Path | None = Field(
        default=None, description="Driver state; defaults to the buffer file's directory."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    supervisor: HealthConfig = Field(default_factory=HealthConfig)
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


@functools.cache
def agent_config_model(kinds: tuple[Kind, ...] = KINDS) -> type[AgentConfig]:
    """:class:`AgentConfig` whose ``drivers`` union is ``kinds`` (the table, or a test's)."""
    if kinds == KINDS:
        return AgentConfig
    members: Any = Union[tuple(k.config for k in kinds)]  # noqa: UP007
    item: Any = Annotated[members, Field(discriminator="kind")]
    drivers: Any = list.__class_getitem__(item)
    model: type[AgentConfig] = create_model(
        "AgentConfig", __base__=AgentConfig, drivers=(drivers, Field(default_factory=list))
    )
    return model
