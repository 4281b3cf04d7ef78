"""TLS refusals, secrets kept out of everything captured, file modes.

anchors-reliability.md §6.4. The broker is a real Mosquitto with a TLS listener that
requires a client certificate (tests/spine/test_tls.py makes the PKI). A raw TLS client
proves what the broker refuses (no client certificate, one from another CA, an expired
one) next to a positive control; the real agent proves what it refuses (an expired
client certificate, a broker certificate naming another host) without ever falling back
to plaintext. Secrets: a password and the private key's text never appear in the
agent's log, the broker's log or any published message. File modes: the outbox, its WAL
and seq mark, and the driver state files are not readable by other users.
"""

from __future__ import annotations

import os
import socket
import ssl
import stat
import subprocess
import time
from pathlib import Path

import pytest

from agent.config import ConfigError, parse_config
from tests.broker import Mosquitto, Subscriber
from tests.reliability.figures import record
from tests.spine.agentproc import AgentProcess, synthetic, write_config
from tests.spine.test_tls import make_pki, openssl, tls_broker, tls_mqtt

# MQTT 3.1.1 CONNECT, clean session, keepalive 60, client id gw-0001.
CONNECT = b"\x10\x13\x00\x04MQTT\x04\x02\x00\x3c\x00\x07gw-0001"


def broker_accepts(port: int, ca: Path, cert: Path | None, key: Path | None) -> bool:
    """True when a TLS client with ``cert`` gets a CONNACK 'accepted' from the broker."""
    ctx = ssl.create_default_context(cafile=str(ca))
    if cert is not None and key is not None:
        ctx.load_cert_chain(str(cert), str(key))
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            ctx.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            tls.sendall(CONNECT)
            return tls.recv(4) == b"\x20\x02\x00\x00"
    except (ssl.SSLError, ConnectionError, TimeoutError, OSError):
        return False


def make_expired_client(d: Path) -> None:
    """expired-client.crt: signed by the good CA, valid until yesterday."""
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=gw-0001",
            "-keyout", "expired-client.key", "-out", "expired-client.csr", cwd=d)  # fmt: skip
    openssl("x509", "-req", "-in", "expired-client.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "-1", "-out", "expired-client.crt", cwd=d)  # fmt: skip
    os.chmod(d / "expired-client.key", 0o600)


def test_broker_refuses_no_cert_another_ca_and_an_expired_cert(tmp_path: Path) -> None:
    make_pki(tmp_path)
    make_pki(tmp_path, prefix="rogue-")
    make_expired_client(tmp_path)
    broker, tls_port = tls_broker(tmp_path)
    ca = tmp_path / "ca.crt"
    try:
        cases = {
            "good client certificate (control)": ("client.crt", "client.key"),
            "no client certificate": (None, None),
            "certificate from another CA": ("rogue-client.crt", "rogue-client.key"),
            "expired client certificate": ("expired-client.crt", "expired-client.key"),
        }
        results = {
            name: broker_accepts(
                tls_port,
                ca,
                tmp_path / cert if cert else None,
                tmp_path / key if key else None,
            )
            for name, (cert, key) in cases.items()
        }
    finally:
        broker.stop()
    assert results == {
        "good client certificate (control)": True,
        "no client certificate": False,
        "certificate from another CA": False,
        "expired client certificate": False,
    }
    record("tls_broker_side", **{k: ("accepted" if v else "refused") for k, v in results.items()})


def test_config_refuses_tls_without_a_client_certificate(tmp_path: Path) -> None:
    text = (
        "gateway: {id: gw-0001, site: s}\n"
        "mqtt: {host: broker.example, tls: {ca: /etc/ca.crt}}\n"
        f"buffer: {{path: {tmp_path / 'b.db'}}}\n"
        "drivers: []\n"
    )
    with pytest.raises(ConfigError) as err:
        parse_config(text, "c.yaml", check_files=False)
    assert "mqtt.tls.cert" in str(err.value)


def _wait_down(agent: AgentProcess) -> bool:
    """Positive signal: the agent logged that its uplink is down (refused)."""
    end = time.monotonic() + 30.0
    while time.monotonic() < end:
        if "is down" in agent.log() or "could not connect" in agent.log():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("case", ["expired client certificate", "broker names another host"])
def test_agent_refuses_and_never_falls_back_to_plaintext(tmp_path: Path, case: str) -> None:
    san = "DNS:other.example" if case == "broker names another host" else "IP:127.0.0.1"
    make_pki(tmp_path, server_san=san)
    prefix = ""
    if case == "expired client certificate":
        make_expired_client(tmp_path)
        prefix = "expired-"
    broker, tls_port = tls_broker(tmp_path)
    sub = Subscriber(broker.port)
    cfg = write_config(
        tmp_path / "c.yaml",
        port=tls_port,
        buffer=tmp_path / "b.db",
        mqtt=tls_mqtt(tmp_path, tls_port, prefix=prefix),
        drivers=[synthetic(20, 100)],
    )
    agent = AgentProcess(cfg, tmp_path / "agent.log").start()
    try:
        assert _wait_down(agent), agent.log()
        assert agent.alive()
        assert not [e for e in sub.events() if e["type"] == "synthetic.sample"]
        assert agent.terminate() == 0
    finally:
        if agent.alive():
            agent.kill()
        sub.close()
        broker.stop()
    key_body = (tmp_path / f"{prefix}client.key").read_text().splitlines()[1]
    assert key_body not in agent.log() and "PRIVATE KEY" not in agent.log()
    record(f"tls_agent_{case.replace(' ', '_')}", refused=True, events_leaked=0)


def test_secrets_never_appear_and_files_are_private(tmp_path: Path) -> None:
    password = "pw-Zq8-never-log-me"
    pwfile = tmp_path / "passwd"
    subprocess.run(
        ["mosquitto_passwd", "-c", "-b", str(pwfile), "gw-0001", "the-right-one"], check=True
    )
    broker = Mosquitto(tmp_path, extra=["allow_anonymous false", f"password_file {pwfile}"])
    broker.start()
    state = tmp_path / "state"
    cfg = write_config(
        tmp_path / "c.yaml",
        port=broker.port,
        buffer=tmp_path / "buf" / "b.db",
        mqtt={
            "host": "127.0.0.1",
            "port": broker.port,
            "insecure": True,
            "username": "gw-0001",
            "password": password,
            "reconnect_max_s": 1.0,
            "timeout_s": 3.0,
        },
        extra={"state_dir": str(state)},
        drivers=[synthetic(50, 100)],
    )
    (tmp_path / "buf").mkdir()
    os.chmod(cfg, 0o600)
    agent = AgentProcess(cfg, tmp_path / "agent.log").start()
    try:
        assert _wait_down(agent), agent.log()
        assert agent.terminate() == 0
    finally:
        if agent.alive():
            agent.kill()
        broker.stop()
    captured = {
        "agent log": agent.log(),
        "broker log": broker.log_text(),
        "outbox": b"".join(
            p.read_bytes() for p in (tmp_path / "buf").iterdir() if p.is_file()
        ).decode("latin-1"),
        "live status": (state / "status.json").read_text(),
    }
    leaks = [name for name, text in captured.items() if password in text]
    assert not leaks, f"password found in {leaks}"
    modes = {}
    for p in [*(tmp_path / "buf").iterdir(), *state.iterdir()]:
        modes[p.name] = stat.S_IMODE(p.stat().st_mode)
    # The live status is the one file meant for the service group (diag, the local
    # console): 0640, never world-readable, and it holds no secret (checked above).
    assert modes.pop("status.json") == 0o640
    public = {name: f"{m:04o}" for name, m in modes.items() if m & 0o077}
    assert not public, f"readable by group/others: {public}"
    record(
        "secrets_and_modes",
        places_grepped=sorted(captured),
        password_hits=0,
        files=sorted(f"{n} {m:04o}" for n, m in modes.items()),
    )


def test_outbox_and_its_wal_are_created_private_and_an_old_file_is_tightened(
    tmp_path: Path,
) -> None:
    """Regression: the outbox used to be created 0644 (world-readable) by the umask."""
    from agent.events import Event
    from buffer.config import BufferConfig
    from buffer.store import OutboxStore

    old = os.umask(0o022)
    try:
        loose = tmp_path / "old.db"
        loose.touch(mode=0o644)
        for path in (tmp_path / "new.db", loose):
            s = OutboxStore(BufferConfig(path=path), source="/edge/test/modes")
            s.append([Event(type="test.sample", subject="dev-1", data={})])
            wal = path.with_name(path.name + "-wal")
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert stat.S_IMODE(wal.stat().st_mode) == 0o600
            s.close()
    finally:
        os.umask(old)
