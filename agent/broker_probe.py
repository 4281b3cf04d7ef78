"""One MQTT v5 connection to the broker with the gateway's own TLS and credentials, for
``edge-agent diag`` while the agent is stopped (while it runs, diag reads its uplink
state instead: a second session under the gateway's client id would take the agent's
over). An aiomqtt owner beside the forwarder (pyproject.toml's library contract).
"""

from __future__ import annotations

import time

import aiomqtt

from agent.config_model import MqttConfig
from agent.tls import build_tls_context


class ProbeError(Exception):
    """The broker could not be reached, refused TLS, or refused our credentials."""


async def probe_broker(cfg: MqttConfig, identifier: str) -> float:
    """Connect and disconnect; the round trip in ms. Raises :class:`ProbeError`."""
    try:
        tls = build_tls_context(cfg)
    except (OSError, ValueError) as exc:
        raise ProbeError(f"cannot load the TLS files: {exc}") from None
    client = aiomqtt.Client(
        cfg.host,
        port=cfg.effective_port,
        identifier=identifier,
        username=cfg.username,
        password=cfg.password.get_secret_value() if cfg.password else None,
        protocol=aiomqtt.ProtocolVersion.V5,
        timeout=cfg.timeout_s,
        tls_context=tls,
    )
    started = time.monotonic()
    try:
        async with client:
            return round((time.monotonic() - started) * 1000, 1)
    except aiomqtt.MqttError as exc:
        raise ProbeError(str(exc) or type(exc).__name__) from None
    except OSError as exc:
        raise ProbeError(exc.strerror or str(exc)) from None
