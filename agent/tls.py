"""The client TLS context for the uplink: verifying, with our certificate, TLS 1.2+.

``tls.server_name`` is the name the broker's certificate must carry when it differs from
``mqtt.host`` (a broker reached by IP address, or through a name the certificate does not
list). paho verifies against the host it dials, so the context wraps every socket with
``server_hostname`` replaced: SNI and hostname verification both use ``server_name`` and
nothing is ever accepted unverified (issue 9 item 7).
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

from agent.config_model import MqttConfig


class _NamedServerContext(ssl.SSLContext):
    """Verifies the peer as ``expected_name`` whatever host name the caller passes."""

    expected_name: str = ""

    def wrap_socket(self, sock: socket.socket, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        kwargs["server_hostname"] = self.expected_name
        return super().wrap_socket(sock, *args, **kwargs)


def build_tls_context(cfg: MqttConfig) -> ssl.SSLContext | None:
    """A verifying client context with our certificate; ``None`` only when insecure."""
    if cfg.tls is None:
        return None
    if cfg.tls.server_name:
        named = _NamedServerContext(ssl.PROTOCOL_TLS_CLIENT)
        named.expected_name = cfg.tls.server_name
        named.load_verify_locations(cafile=str(cfg.tls.ca))
        ctx: ssl.SSLContext = named
    else:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(cfg.tls.ca))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(str(cfg.tls.cert), str(cfg.tls.key))
    return ctx
