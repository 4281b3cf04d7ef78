"""Uplink failures a crew can read (issue 14 item 7), against a real Mosquitto.

The agent runs as a child process at DEBUG so each reconnect's drawn delay is in its log:
a broker with a password file that refuses our credentials is reported once, in words,
at WARNING, and retried on the long refused schedule; a broker that is gone is reported
once and retried on the short network schedule. Repeats of one reason are DEBUG only.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from agent.forwarder_publish import NegativeAck
from agent.uplink import Lost, describe
from tests.broker import Mosquitto, free_port
from tests.spine.agentproc import AgentProcess, synthetic, wait_for, write_config

DELAY = re.compile(r"next connection attempt in ([0-9.]+) s( \(credentials refused\))?")


def _agent(tmp: Path, port: int, **mqtt: object) -> AgentProcess:
    cfg = write_config(
        tmp / "c.yaml",
        port=port,
        buffer=tmp / "b.db",
        mqtt={
            "host": "127.0.0.1",
            "port": port,
            "insecure": True,
            "reconnect_max_s": 1.0,
            "refused_backoff_s": 3.0,
            "timeout_s": 3.0,
            **mqtt,
        },
        drivers=[synthetic(5, 10)],
        extra={"log_level": "DEBUG"},
    )
    return AgentProcess(cfg, tmp / "agent.log").start()


def _delays(log: str) -> list[tuple[float, bool]]:
    return [(float(m[1]), bool(m[2])) for m in DELAY.finditer(log)]


def _warnings(log: str) -> list[str]:
    return [line for line in log.splitlines() if " WARNING agent.forwarder:" in line]


def test_refused_credentials_are_said_once_in_words_and_retried_slowly(tmp_path: Path) -> None:
    passwords = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "gw-0001", "right"], check=True)
    broker = Mosquitto(tmp_path, extra=["allow_anonymous false", f"password_file {passwords}"])
    broker.start()
    agent = _agent(tmp_path, broker.port, username="gw-0001", password="wrong")
    try:
        # Three refused attempts: two waits drawn in between, both logged at DEBUG.
        assert wait_for(lambda: len(_delays(agent.log())) >= 2, 60), agent.log()
    finally:
        agent.terminate()
        broker.stop()
    log = agent.log()
    warnings = _warnings(log)
    assert len(warnings) == 1, warnings
    assert re.search(
        r"uplink to 127\.0\.0\.1:\d+ is down: (not authorised|bad user name or password): "
        r"the broker refused our credentials \(CONNACK 0x8[67]\); retrying every 3 s",
        warnings[0],
    ), warnings[0]
    assert "DEBUG agent.forwarder: uplink to 127.0.0.1" in log  # the repeat, quietly
    delays = _delays(log)
    assert all(refused for _, refused in delays)
    # Drawn from [refused_backoff_s, 2 * refused_backoff_s]: above the 1 s network cap.
    assert all(3.0 <= d <= 6.0 for d, _ in delays), delays
    assert "DisconnectFlags" not in log and "wrong" not in log  # no raw flags, no password


def test_a_broker_that_is_gone_is_said_once_and_retried_on_the_short_schedule(
    tmp_path: Path,
) -> None:
    agent = _agent(tmp_path, free_port())
    try:
        assert wait_for(lambda: len(_delays(agent.log())) >= 4, 60), agent.log()
    finally:
        agent.terminate()
    log = agent.log()
    warnings = _warnings(log)
    assert len(warnings) == 1, warnings
    assert warnings[0].endswith("is down: nothing listens there (connection refused)")
    delays = _delays(log)
    assert not any(refused for _, refused in delays)
    assert all(d <= 1.0 for d, _ in delays), delays


@pytest.mark.parametrize(
    ("exc", "kind", "text"),
    [
        (OSError("[Errno 111] Connection refused"), "network", "connection refused"),
        (TimeoutError(), "network", "no answer (timed out)"),
        (
            OSError(
                "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get "
                "local issuer certificate (_ssl.c:1006)"
            ),
            "tls",
            "TLS: the broker's certificate is not trusted (certificate verify failed: "
            "unable to get local issuer certificate)",
        ),
    ],
)
def test_failures_are_described_in_words(exc: BaseException, kind: str, text: str) -> None:
    failure = describe(exc)
    assert failure.kind == kind
    assert text in failure.text


def _connack(name: str) -> ReasonCode:
    return ReasonCode(PacketTypes.CONNACK, name)


def _disconnect(name: str) -> ReasonCode:
    return ReasonCode(PacketTypes.DISCONNECT, name)


@pytest.mark.parametrize(
    ("exc", "kind", "text"),
    [
        (
            MqttConnectError(_connack("Not authorized")),
            "credentials",
            "not authorised: the broker refused our credentials (CONNACK 0x87)",
        ),
        (
            MqttConnectError(_connack("Bad user name or password")),
            "credentials",
            "bad user name or password: the broker refused our credentials (CONNACK 0x86)",
        ),
        (MqttConnectError(5), "credentials", "(CONNACK 0x87)"),  # an MQTT 3.1.1 broker
        (MqttConnectError(_connack("Server busy")), "broker", "the broker is busy (CONNACK 0x89)"),
        (
            Lost(from_broker=True, reason=_disconnect("Session taken over"), socket_error=None),
            "broker",
            "session taken over: another client connected with our client id (DISCONNECT 0x8e)",
        ),
        (
            Lost(from_broker=False, reason=_disconnect("Unspecified error"), socket_error=None),
            "network",
            "the connection was lost (network, or the broker closed it)",
        ),
        (
            Lost(
                from_broker=False,
                reason=_disconnect("Unspecified error"),
                socket_error="[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca (_ssl.c:2580)",
            ),
            "credentials",
            "TLS: the broker does not trust our client certificate (tlsv1 alert unknown ca)",
        ),
        (
            NegativeAck(ReasonCode(PacketTypes.PUBACK, "Not authorized")),
            "broker",
            "the broker refused our status message (PUBACK 0x87",
        ),
    ],
)
def test_protocol_codes_are_described_in_words(exc: BaseException, kind: str, text: str) -> None:
    failure = describe(exc)
    assert failure.kind == kind
    assert text in failure.text
