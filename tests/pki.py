"""Test certificates made with the openssl command line: a CA, a broker and gateway certs.

Used by the TLS tests (tests/spine/test_tls.py) and provisioning (tests/ops/test_provision.py).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.broker import Mosquitto, free_port


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(d: Path, prefix: str = "", server_san: str = "IP:127.0.0.1,DNS:localhost") -> None:
    """A CA, a server cert for ``server_san`` and a client cert whose CN is the gateway id."""
    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        f"/CN={prefix}test-ca",
        "-keyout",
        f"{prefix}ca.key",
        "-out",
        f"{prefix}ca.crt",
        cwd=d,
    )
    for name, cn, ext in (
        ("server", "localhost", f"subjectAltName={server_san}"),
        ("client", "gw-0001", "basicConstraints=CA:FALSE"),
    ):
        openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            f"/CN={cn}",
            "-keyout",
            f"{prefix}{name}.key",
            "-out",
            f"{prefix}{name}.csr",
            cwd=d,
        )
        (d / f"{prefix}{name}.ext").write_text(ext + "\n")
        openssl(
            "x509",
            "-req",
            "-in",
            f"{prefix}{name}.csr",
            "-CA",
            f"{prefix}ca.crt",
            "-CAkey",
            f"{prefix}ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            f"{prefix}{name}.ext",
            "-out",
            f"{prefix}{name}.crt",
            cwd=d,
        )
        os.chmod(d / f"{prefix}{name}.key", 0o600)


def client_cert(d: Path, name: str, cn: str, *, days: int = 2, ca: str = "ca") -> None:
    """``name``.crt/.key for ``cn``, signed by ``ca``; ``days`` < 0 makes it expired."""
    openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d,
    )  # fmt: skip
    (d / f"{name}.ext").write_text("basicConstraints=CA:FALSE\n")
    openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
        "-CAcreateserial", "-days", str(days), "-extfile", f"{name}.ext", "-out", f"{name}.crt",
        cwd=d,
    )  # fmt: skip
    os.chmod(d / f"{name}.key", 0o600)


def tls_broker(tmp: Path) -> tuple[Mosquitto, int]:
    """Broker with a TLS listener (client cert required) and a plaintext one for the test."""
    tls_port = free_port()
    b = Mosquitto(
        tmp,
        extra=[
            "allow_anonymous true",
            f"listener {tls_port} 127.0.0.1",
            "allow_anonymous true",
            f"cafile {tmp / 'ca.crt'}",
            f"certfile {tmp / 'server.crt'}",
            f"keyfile {tmp / 'server.key'}",
            "require_certificate true",
            "use_identity_as_username true",
        ],
    )
    return b.start(), tls_port
