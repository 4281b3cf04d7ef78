"""What an installer's certificate and key say about themselves (the only cryptography user).

``edge-agent provision`` refuses, before anything is installed, a certificate that does
not match its key, one that has expired or is not valid yet, a key with a passphrase (the
service could not unlock it at boot), and a gateway id that differs from the certificate's
common name: the broker identifies us by that CN (Mosquitto ``use_identity_as_username``),
so a mismatch would publish under someone else's topics or be refused by the ACL. Every
refusal is one sentence an installer can act on (issue 14 item 3).

``cryptography`` is imported here only, and only by the commands that need it: the running
agent never loads it (TLS itself is the stdlib ``ssl`` module, agent/tls.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID


class CredentialError(ValueError):
    """A refusal, worded for the installer."""


@dataclass(frozen=True)
class Certificate:
    common_name: str | None
    not_before: datetime
    not_after: datetime
    serial: int

    def days_left(self, now: datetime) -> float:
        return (self.not_after - now).total_seconds() / 86400


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CredentialError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None


def load_certificate(path: Path) -> Certificate:
    """The first certificate of a PEM file, or ``CredentialError``."""
    try:
        cert = x509.load_pem_x509_certificate(_read(path, "certificate"))
    except ValueError:
        raise CredentialError(f"{path} is not a PEM certificate") from None
    return _describe(cert)


def _describe(cert: x509.Certificate) -> Certificate:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = names[0].value if names else None
    return Certificate(
        common_name=cn if isinstance(cn, str) else None,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        serial=cert.serial_number,
    )


def check_ca(path: Path) -> int:
    """How many certificates the CA bundle holds (at least one, or ``CredentialError``)."""
    try:
        certs = x509.load_pem_x509_certificates(_read(path, "CA bundle"))
    except ValueError:
        raise CredentialError(f"{path} holds no PEM certificate (the broker's CA)") from None
    return len(certs)


def check_client_credentials(
    cert_path: Path, key_path: Path, *, gateway_id: str, now: datetime | None = None
) -> Certificate:
    """The client certificate, once it matches the key, is valid now and names us."""
    now = now or datetime.now(UTC)
    raw = _read(cert_path, "certificate")
    try:
        cert = x509.load_pem_x509_certificate(raw)
    except ValueError:
        raise CredentialError(f"{cert_path} is not a PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(_read(key_path, "key"), password=None)
    except TypeError:
        raise CredentialError(
            f"the key {key_path} is protected by a passphrase; the service cannot unlock it "
            f"at boot. Remove it: openssl pkey -in {key_path} -out plain.key"
        ) from None
    except ValueError:
        raise CredentialError(f"{key_path} is not a PEM private key") from None
    spki = serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    if cert.public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
        raise CredentialError(
            f"the certificate {cert_path} does not match the key {key_path}: they are not "
            "one pair. Use the key the certificate request was made with"
        )
    info = _describe(cert)
    stamp = "%Y-%m-%d %H:%M UTC"
    if info.not_after <= now:
        raise CredentialError(
            f"the certificate {cert_path} expired on {info.not_after.strftime(stamp)} "
            f"({-info.days_left(now):.0f} days ago); ask the platform for a new one"
        )
    if info.not_before > now:
        raise CredentialError(
            f"the certificate {cert_path} is valid only from "
            f"{info.not_before.strftime(stamp)}; is this gateway's clock right "
            f"(now {now.strftime(stamp)})? Check: timedatectl"
        )
    if info.common_name != gateway_id:
        raise CredentialError(
            f"gateway id {gateway_id!r} differs from the certificate's CN "
            f"{info.common_name!r}: the broker knows this gateway by its CN. Use "
            f"--gateway-id {info.common_name} or the certificate issued for {gateway_id}"
        )
    return info
