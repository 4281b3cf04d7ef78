"""Why the uplink failed, in words a crew can act on, and a one-shot connection test.

aiomqtt reports a refused CONNACK as ``[code:135] Not authorized``, a lost connection as a
paho reason code, and every socket or TLS failure as a bare ``MqttError`` carrying the
``OSError`` text. :func:`describe` turns each into one sentence with the code kept at the
end (``not authorised: the broker refused our credentials (CONNACK 0x87)``) and a kind:
``credentials`` failures (bad password, not authorised, banned, a client certificate the
broker rejects) do not heal by retrying, so the
forwarder backs off longer for them (agent/backoff.py) and says so once (issue 14 item 7).

:func:`check_uplink` is what ``edge-agent provision`` ends with: a real TLS connection
with our client certificate and a CONNACK, then a clean disconnect. It publishes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
import time
from dataclasses import dataclass
from typing import Any, Literal

import aiomqtt
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.reasoncodes import ReasonCode

from agent.config_model import MqttConfig
from agent.forwarder_publish import DeadlinePassed, NegativeAck, retrieve_disconnect
from agent.tls import build_tls_context

_uplink_log = logging.getLogger("agent.forwarder")

CREDENTIALS = "credentials"
NETWORK = "network"
TLS = "tls"
BROKER = "broker"
LOCAL = "local"
OTHER = "other"


@dataclass(frozen=True)
class UplinkFailure:
    kind: str  # one of the constants above
    text: str  # one sentence for the log; also the key for "logged once per reason"

    @property
    def credentials_refused(self) -> bool:
        return self.kind == CREDENTIALS


# CONNACK (MQTT v5 §3.2.2.2) and DISCONNECT (§3.14.2.1) reason codes worth words.
_CONNACK: dict[int, tuple[str, str]] = {
    0x84: (BROKER, "the broker does not speak MQTT v5"),
    0x85: (CREDENTIALS, "the broker refused our client id"),
    0x86: (CREDENTIALS, "bad user name or password: the broker refused our credentials"),
    0x87: (CREDENTIALS, "not authorised: the broker refused our credentials"),
    0x88: (BROKER, "the broker is unavailable"),
    0x89: (BROKER, "the broker is busy"),
    0x8A: (CREDENTIALS, "banned: the broker refuses this gateway"),
    0x8C: (CREDENTIALS, "the broker refused our authentication method"),
    0x97: (BROKER, "the broker's quota is exceeded"),
    0x9F: (BROKER, "the broker limits connection rate; too many attempts"),
}
_DISCONNECT: dict[int, tuple[str, str]] = {
    0x87: (CREDENTIALS, "not authorised: the broker disconnected us"),
    0x8B: (BROKER, "the broker is shutting down"),
    0x8D: (NETWORK, "keepalive timeout: the broker heard nothing from us"),
    0x8E: (BROKER, "session taken over: another client connected with our client id"),
    0x95: (BROKER, "a packet was too large for the broker"),
    0x97: (BROKER, "the broker's quota is exceeded"),
}
# MQTT 3.1.1 CONNACK return codes, as aiomqtt passes them through for v3 brokers.
_CONNACK_V3 = {4: 0x86, 5: 0x87}
# Socket and TLS failures by the text aiomqtt keeps of the OSError (lowercase match).
_TEXTS: tuple[tuple[str, str, str], ...] = (
    ("mismatch", TLS, "TLS: the broker's certificate names another host (see tls.server_name)"),
    ("certificate verify failed", TLS, "TLS: the broker's certificate is not trusted"),
    ("certificate required", CREDENTIALS, "TLS: the broker wants a client certificate"),
    ("unknown ca", CREDENTIALS, "TLS: the broker does not trust our client certificate"),
    ("bad certificate", CREDENTIALS, "TLS: the broker rejected our client certificate"),
    ("certificate expired", CREDENTIALS, "TLS: the broker says our certificate expired"),
    ("wrong version number", TLS, "TLS: the port does not speak TLS (a plaintext listener?)"),
    ("connection refused", NETWORK, "nothing listens there (connection refused)"),
    ("timed out", NETWORK, "no answer (timed out)"),
    ("name or service not known", NETWORK, "the broker's host name does not resolve"),
    ("temporary failure in name resolution", NETWORK, "name resolution failed (DNS)"),
    ("network is unreachable", NETWORK, "no route to the network (network is unreachable)"),
    ("no route to host", NETWORK, "no route to the broker (no route to host)"),
    ("connection reset", NETWORK, "the connection was reset"),
    ("no puback", NETWORK, "the broker stopped answering (no PUBACK in time)"),
)


class Lost(aiomqtt.MqttError):
    """The connection ended: by the broker's DISCONNECT, or under us (with paho's socket
    error text when it logged one, e.g. a TLS alert the broker sent)."""

    def __init__(self, *, from_broker: bool, reason: object, socket_error: str | None) -> None:
        super().__init__(socket_error or f"connection lost: {reason}")
        self.from_broker = from_broker
        self.reason = reason
        self.socket_error = socket_error


class ConnectionWatch(logging.Filter):
    """One client's view of how its connection ended.

    A broker that rejects our client certificate under TLS 1.3 does so after the client
    finished its handshake: paho logs ``failed to receive on socket: ... alert unknown
    ca`` and reports a disconnection that aiomqtt ignores before CONNACK, so the connect
    would hang until its timeout and the reason would be lost. As a filter on the logger
    given to aiomqtt this keeps that text (and drops the raw line: we say it in words);
    :meth:`attach` fails the pending connect at once with it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.socket_error: str | None = None
        self.lost: Lost | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if msg.startswith(("failed to receive on socket: ", "failed to send on socket: ")):
            self.socket_error = msg.split(": ", 1)[1]
            return False
        return True

    def attach(self, client: aiomqtt.Client) -> None:
        paho = client._client
        previous: Any = paho.on_disconnect

        def on_disconnect(
            c: Any, userdata: Any, flags: Any, reason: Any, props: Any = None
        ) -> None:
            from_broker = bool(getattr(flags, "is_disconnect_packet_from_server", False))
            self.lost = Lost(from_broker=from_broker, reason=reason, socket_error=self.socket_error)
            if not client._connected.done():
                client._connected.set_exception(self.lost)
            previous(c, userdata, flags, reason, props)

        paho.on_disconnect = on_disconnect

    def explain(self, exc: BaseException) -> BaseException:
        """What to describe for ``exc``: how the connection ended, when we saw that."""
        explained = MqttConnectError | NegativeAck | DeadlinePassed | sqlite3.Error
        if self.lost is None or isinstance(exc, explained):
            return exc
        return self.lost


def _from_text(text: str) -> UplinkFailure | None:
    """A socket or TLS failure by its text; TLS ones keep the library's detail."""
    low = text.lower()
    for needle, kind, words in _TEXTS:
        if needle in low:
            if kind in (TLS, CREDENTIALS):
                detail = re.sub(r"^\[SSL: [A-Z0-9_]+\] |\s*\(_ssl\.c:\d+\)$", "", text.strip())
                words = f"{words} ({detail.rstrip('.')})"
            return UplinkFailure(kind, words)
    return None


def _from_lost(exc: Lost) -> UplinkFailure:
    code = _code(exc.reason)
    if exc.from_broker and code is not None:
        kind, words = _DISCONNECT.get(code, (BROKER, f"the broker disconnected us: {exc.reason}"))
        return UplinkFailure(kind, f"{words} (DISCONNECT {code:#04x})")
    if exc.socket_error:
        found = _from_text(exc.socket_error)
        return found or UplinkFailure(NETWORK, f"the connection failed: {exc.socket_error}")
    if code == 0x8D:
        return UplinkFailure(NETWORK, "keepalive timeout: the broker stopped answering our pings")
    return UplinkFailure(NETWORK, "the connection was lost (network, or the broker closed it)")


def _code(rc: object) -> int | None:
    if isinstance(rc, ReasonCode):
        return int(rc.value)
    return rc if isinstance(rc, int) else None


def _from_code(exc: aiomqtt.MqttCodeError) -> UplinkFailure | None:
    code = _code(exc.rc)
    if code is None:
        return None
    if isinstance(exc, MqttConnectError):
        if not isinstance(exc.rc, ReasonCode):
            code = _CONNACK_V3.get(code, code)
        kind, words = _CONNACK.get(code, (BROKER, f"the broker refused us: {exc.rc}"))
        return UplinkFailure(kind, f"{words} (CONNACK {code:#04x})")
    if isinstance(exc.rc, ReasonCode):
        kind, words = _DISCONNECT.get(code, (BROKER, f"the broker disconnected us: {exc.rc}"))
        return UplinkFailure(kind, f"{words} (DISCONNECT {code:#04x})")
    return UplinkFailure(NETWORK, "the connection was lost (network, or the broker closed it)")


def describe(exc: BaseException) -> UplinkFailure:
    """One sentence and a kind for any failure the forwarder's connection loop catches."""
    if isinstance(exc, NegativeAck):
        # Connected, so not our credentials: the ACL. On the network schedule (issue 19).
        return UplinkFailure(
            BROKER,
            f"the broker refused our status message ({exc}): check its ACL for our topics",
        )
    if isinstance(exc, sqlite3.Error):
        return UplinkFailure(LOCAL, f"the outbox failed: {exc}")
    if isinstance(exc, Lost):
        return _from_lost(exc)
    if isinstance(exc, TimeoutError):
        return UplinkFailure(NETWORK, "no answer (timed out)")
    if isinstance(exc, aiomqtt.MqttCodeError) and (found := _from_code(exc)) is not None:
        return found
    text = str(exc) or type(exc).__name__
    if (found := _from_text(text)) is not None:
        return found
    if "connection lost" in text.lower() or "unexpected disconnection" in text.lower():
        return UplinkFailure(NETWORK, "the connection was lost (network, or the broker closed it)")
    return UplinkFailure(OTHER, text)


async def check_uplink(cfg: MqttConfig, *, client_id: str, timeout_s: float = 15.0) -> None:
    """Connect once with our TLS credentials and disconnect; raises what a connect raises
    (give it to :func:`describe`), ``TimeoutError`` after ``timeout_s``."""
    watch = ConnectionWatch()
    logger = logging.getLogger("agent.uplink.check")
    logger.addFilter(watch)
    client = aiomqtt.Client(
        cfg.host,
        port=cfg.effective_port,
        identifier=client_id,
        username=cfg.username,
        password=cfg.password.get_secret_value() if cfg.password else None,
        protocol=aiomqtt.ProtocolVersion.V5,
        keepalive=cfg.keepalive_s,
        timeout=timeout_s,
        tls_context=build_tls_context(cfg),
        logger=logger,
    )
    watch.attach(client)
    try:
        async with asyncio.timeout(timeout_s), client:
            pass
    except aiomqtt.MqttError as exc:
        raise watch.explain(exc) from exc
    finally:
        logger.removeFilter(watch)
        with contextlib.suppress(Exception):
            retrieve_disconnect(client)


class UplinkLog:
    """The uplink's state for the live status, logged on transitions.

    Up or down, and each distinct reason it stays down for, once (WARNING); the same
    reason again only at DEBUG. A crew reads why in words, not ``DisconnectFlags(...)``.
    Logged under ``agent.forwarder``, where a crew looks for the uplink.
    """

    def __init__(self, where: str, *, refused_backoff_s: float) -> None:
        self.where = where
        self._refused_backoff_s = refused_backoff_s
        self._up: bool | None = None
        self._reasons: set[str] = set()  # reasons logged in this outage (bounded)
        self.reason: str | None = None
        self.since: float | None = None

    @property
    def state(self) -> Literal["connecting", "up", "down"]:
        if self._up is None:
            return "connecting"
        return "up" if self._up else "down"

    def transition(self, *, up: bool, failure: UplinkFailure | None = None) -> None:
        if self._up is not up:
            self.since = time.time()
        self.reason = None if up or failure is None else failure.text
        if up:
            self._reasons.clear()
            if self._up is not True:
                _uplink_log.info("uplink to %s is up", self.where)
            self._up = True
            return
        assert failure is not None
        text = failure.text
        if failure.credentials_refused:
            text += f"; retrying every {self._refused_backoff_s:g} s or so until fixed"
        if failure.text in self._reasons:
            _uplink_log.debug("uplink to %s still down: %s", self.where, text)
        elif self._up is False:
            _uplink_log.warning("uplink to %s still down, now: %s", self.where, text)
        else:
            _uplink_log.warning("uplink to %s is down: %s", self.where, text)
        if len(self._reasons) < 64:  # a changing text (an errno message) stays bounded
            self._reasons.add(failure.text)
        self._up = False
