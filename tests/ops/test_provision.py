"""``edge-agent provision`` (issue 14 item 3) against a real Mosquitto with TLS client certs.

The command runs as an installer runs it (``python -m agent provision``, a child process);
certificates come from tests/pki.py (the openssl command line, as the TLS tests). Each
refusal is checked with the words the installer sees, and with nothing written.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from agent.provision import Owners, Request, lay_down
from tests.broker import Mosquitto
from tests.pki import client_cert, make_pki, tls_broker
from tests.shared_data import REPO


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    d = tmp_path / "pki"
    d.mkdir()
    make_pki(d)  # ca, server, client (CN gw-0001)
    return d


@pytest.fixture
def broker(pki: Path) -> Iterator[tuple[Mosquitto, int]]:
    b, tls_port = tls_broker(pki)
    yield b, tls_port
    b.stop()


def provision(
    pki: Path, config_dir: Path, *extra: str, broker: str = "", cert: str = "client"
) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable, "-m", "agent", "provision",
        "--gateway-id", "gw-0001", "--site", "linfen-rd",
        "--broker", broker or "mqtts://127.0.0.1:1",
        "--ca", str(pki / "ca.crt"),
        "--cert", str(pki / f"{cert}.crt"),
        "--key", str(pki / f"{cert}.key"),
        "--config-dir", str(config_dir),
        "--state-dir", str(config_dir.parent / "state"),
        *extra,
    ]  # fmt: skip
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)


def snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    out: dict[str, tuple[object, ...]] = {}
    for p in sorted(root.rglob("*")):
        st = p.stat()
        digest = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
        out[str(p)] = (digest, stat.S_IMODE(st.st_mode), st.st_mtime_ns, st.st_uid, st.st_gid)
    return out


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_provision_installs_checks_connects_and_a_rerun_changes_nothing(
    pki: Path, broker: tuple[Mosquitto, int], tmp_path: Path
) -> None:
    b, tls_port = broker
    etc = tmp_path / "etc" / "edge-agent"
    first = provision(pki, etc, broker=f"mqtts://127.0.0.1:{tls_port}")
    assert first.returncode == 0, first.stderr
    assert f"connection test: mqtts://127.0.0.1:{tls_port} accepted gw-0001's" in first.stdout
    assert "config check" in first.stdout and ": OK" in first.stdout
    # The broker saw our client certificate: Mosquitto names the client by its CN.
    assert "gw-0001-provision" in b.log_text()
    assert mode(etc / "config.yaml") == 0o640
    assert mode(etc / "tls" / "client.key") == 0o600
    assert mode(etc / "tls" / "client.crt") == mode(etc / "tls" / "ca.crt") == 0o640
    assert mode(etc) == mode(etc / "tls") == 0o750
    assert (etc / "tls" / "client.key").read_bytes() == (pki / "client.key").read_bytes()
    # No edge-agent user on a test machine: the owners it could not set are reported.
    if os.geteuid() == 0:
        assert "owners NOT set (no user/group 'edge-agent' here)" in first.stderr
    else:
        assert "owners NOT set (not running as root)" in first.stderr
    assert str(etc / "tls" / "client.key") in first.stderr
    doc = yaml.safe_load((etc / "config.yaml").read_text())
    assert doc["gateway"] == {"id": "gw-0001", "site": "linfen-rd"}
    assert doc["mqtt"]["tls"]["key"] == str(etc / "tls" / "client.key")
    assert "insecure" not in doc["mqtt"]
    check = subprocess.run(
        [sys.executable, "-m", "agent", "config", "check", str(etc / "config.yaml")],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr

    before = snapshot(etc)
    second = provision(pki, etc, broker=f"mqtts://127.0.0.1:{tls_port}")
    assert second.returncode == 0, second.stderr
    assert "provision: done: nothing changed" in second.stdout
    assert snapshot(etc) == before  # hashes, modes, mtimes and owners
    assert "PRIVATE KEY" not in first.stdout + first.stderr + second.stdout + second.stderr


def test_reprovisioning_keeps_drivers_and_replaces_only_what_it_owns(
    pki: Path, tmp_path: Path
) -> None:
    etc = tmp_path / "etc"
    assert provision(pki, etc, "--no-connect").returncode == 0
    doc = yaml.safe_load((etc / "config.yaml").read_text())
    doc["drivers"] = [{"name": "s", "kind": "synthetic", "count": 1, "rate_hz": 1}]
    doc["mqtt"]["keepalive_s"] = 45
    (etc / "config.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    moved = provision(pki, etc, "--no-connect", broker="mqtts://broker.example.net")
    assert moved.returncode == 0, moved.stderr
    after = yaml.safe_load((etc / "config.yaml").read_text())
    assert after["drivers"] == doc["drivers"]
    assert after["mqtt"]["keepalive_s"] == 45
    assert (after["mqtt"]["host"], after["mqtt"]["port"]) == ("broker.example.net", 8883)


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("mqtt://", "refused: plaintext broker refused: mqtt://127.0.0.1:1883"),
        ("tcp://", "refused: plaintext broker refused: tcp://127.0.0.1:1883"),
        ("wrong-key", "does not match the key"),
        ("expired", "expired on"),
        ("cn-mismatch", "gateway id 'gw-0001' differs from the certificate's CN 'gw-0002'"),
    ],
)
def test_refusals_say_why_and_write_nothing(
    pki: Path, tmp_path: Path, case: str, words: str
) -> None:
    etc = tmp_path / "etc"
    broker, cert = "", "client"
    if case.endswith("://"):
        broker = f"{case}127.0.0.1:1883"
    elif case == "wrong-key":
        client_cert(pki, "other", "gw-0001")
        (pki / "mixed.crt").write_bytes((pki / "client.crt").read_bytes())
        (pki / "mixed.key").write_bytes((pki / "other.key").read_bytes())
        cert = "mixed"
    elif case == "expired":
        client_cert(pki, "expired", "gw-0001", days=-1)
        cert = "expired"
    else:
        client_cert(pki, "gw-0002", "gw-0002")
        cert = "gw-0002"
    proc = provision(pki, etc, broker=broker, cert=cert)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert words in proc.stderr
    assert proc.stderr.startswith("provision: refused: ")
    assert not etc.exists()


def test_a_broker_that_refuses_our_certificate_fails_the_connection_test(
    pki: Path, broker: tuple[Mosquitto, int], tmp_path: Path
) -> None:
    """A certificate from another CA: provisioning installs, then says the broker refused."""
    _, tls_port = broker
    rogue = tmp_path / "rogue"
    rogue.mkdir()
    make_pki(rogue)
    (rogue / "ca.crt").write_bytes((pki / "ca.crt").read_bytes())  # we trust the broker
    proc = provision(rogue, tmp_path / "etc", broker=f"mqtts://127.0.0.1:{tls_port}")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert (
        f"connection test to mqtts://127.0.0.1:{tls_port} FAILED: "
        "TLS: the broker does not trust our client certificate"
    ) in proc.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="setting owners needs root")
def test_as_root_with_the_service_user_the_owners_are_set(pki: Path, tmp_path: Path) -> None:
    """Owners by number (nobody:nogroup stands in for edge-agent on a test machine)."""
    svc_uid, svc_gid = 65534, 65534
    req = Request(
        gateway_id="gw-0001", site="s", host="broker.test", port=8883,
        ca=pki / "ca.crt", cert=pki / "client.crt", key=pki / "client.key",
        config_dir=tmp_path / "etc", state_dir=tmp_path / "state",
    )  # fmt: skip
    outcome = lay_down(req, Owners(0, svc_uid, svc_gid))
    assert not outcome.owners_not_set
    key = (tmp_path / "etc/tls/client.key").stat()
    cfg = (tmp_path / "etc/config.yaml").stat()
    assert (key.st_uid, key.st_gid, stat.S_IMODE(key.st_mode)) == (svc_uid, svc_gid, 0o600)
    assert (cfg.st_uid, cfg.st_gid, stat.S_IMODE(cfg.st_mode)) == (0, svc_gid, 0o640)
    again = lay_down(req, Owners(0, svc_uid, svc_gid))
    assert not again.changed


def test_a_broken_existing_config_is_refused_not_overwritten(pki: Path, tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "config.yaml").write_text("gateway: [unclosed\n")
    proc = provision(pki, etc, "--no-connect")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "config.yaml is not valid YAML" in proc.stderr
    assert (etc / "config.yaml").read_text() == "gateway: [unclosed\n"
    assert not (etc / "tls").exists()
