"""Provisioning a gateway: its config and credentials, installed with safe modes, idempotently.

``edge-agent provision`` (agent/commands/provision.py) checks the inputs first
(agent/credentials.py; a plaintext broker URL here), then lays down:

==============================  ======  =========================
``CONFIG_DIR/config.yaml``      0640    root:edge-agent
``CONFIG_DIR/tls/ca.crt``       0640    root:edge-agent
``CONFIG_DIR/tls/client.crt``   0640    root:edge-agent
``CONFIG_DIR/tls/client.key``   0600    edge-agent:edge-agent
==============================  ======  =========================

The agent can read its config but not rewrite it; only it can read its key. A file whose
content, mode and owner already match is not touched (same hash, mode and mtime on a
re-run); a changed one is written beside and renamed over, so a power cut leaves the old
file or the new one. When this process cannot set an owner (not root, or no ``edge-agent``
user yet: a test, or provisioning before deploy/install.sh) the modes are still applied and
every owner it could not set is reported.

An existing config keeps everything but the keys provisioning owns (``gateway.id``,
``gateway.site``, ``mqtt.host/port/tls``, ``mqtt.insecure``): drivers added since survive a
re-provisioning, and an unchanged config is not rewritten, so its comments survive too.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

SERVICE_USER = "edge-agent"
PLAINTEXT_SCHEMES = frozenset({"mqtt", "tcp", "ws", "http"})
HEADER = (
    "# Written by `edge-agent provision`; re-running it with the same inputs changes nothing.\n"
    "# Add drivers below (docs/operations.md); provisioning keeps them.\n"
)


class ProvisionError(ValueError):
    """A refusal, worded for the installer."""


@dataclass(frozen=True)
class Request:
    gateway_id: str
    site: str
    host: str
    port: int
    ca: Path
    cert: Path
    key: Path
    config_dir: Path = Path("/etc/edge-agent")
    state_dir: Path = Path("/var/lib/edge-agent")
    server_name: str | None = None

    @property
    def tls_dir(self) -> Path:
        return self.config_dir / "tls"

    @property
    def config_path(self) -> Path:
        return self.config_dir / "config.yaml"


def parse_broker(url: str) -> tuple[str, int]:
    """``mqtts://HOST[:PORT]`` to (host, port); plaintext schemes are refused."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in PLAINTEXT_SCHEMES:
        raise ProvisionError(
            f"plaintext broker refused: {url} would send events and credentials "
            "unencrypted. The gateway talks to its broker only over TLS with its client "
            "certificate: use mqtts://HOST:8883"
        )
    if scheme not in ("mqtts", "ssl") or not parts.hostname:
        raise ProvisionError(f"broker {url!r}: expected mqtts://HOST:PORT")
    try:
        port = parts.port or 8883
    except ValueError:
        raise ProvisionError(f"broker {url!r}: the port is not a number 1-65535") from None
    if parts.path not in ("", "/") or parts.query or parts.username:
        raise ProvisionError(f"broker {url!r}: expected only mqtts://HOST:PORT")
    return parts.hostname, port


@dataclass
class Owners:
    """The ids to give root's and the service's files, and what could not be had."""

    root_uid: int | None
    service_uid: int | None
    service_gid: int | None
    why_not: str | None = None

    @classmethod
    def resolve(cls, user: str = SERVICE_USER) -> Owners:
        if os.geteuid() != 0:
            return cls(None, None, None, "not running as root")
        try:
            uid = pwd.getpwnam(user).pw_uid
        except KeyError:
            uid = None
        try:
            gid: int | None = grp.getgrnam(user).gr_gid
        except KeyError:
            gid = None
        why = None if uid is not None and gid is not None else f"no user/group {user!r} here"
        return cls(0, uid, gid, why)


@dataclass(frozen=True)
class Spec:
    """One file to lay down: where, what, its mode, and the owner it should have."""

    path: Path
    data: bytes
    mode: int
    service_owned: bool  # key: edge-agent:edge-agent; else root:edge-agent


@dataclass
class Outcome:
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    owners_not_set: list[str] = field(default_factory=list)


def wanted_owner(spec_service_owned: bool, owners: Owners) -> tuple[int | None, int | None]:
    uid = owners.service_uid if spec_service_owned else owners.root_uid
    return uid, owners.service_gid


def _apply_owner_mode(path: Path, mode: int, want: tuple[int | None, int | None]) -> bool:
    """Set mode and (what can be set of) the owner; True if anything changed."""
    st = path.stat()
    changed = False
    if stat.S_IMODE(st.st_mode) != mode:
        path.chmod(mode)
        changed = True
    uid = want[0] if want[0] is not None else -1
    gid = want[1] if want[1] is not None else -1
    if (uid != -1 and st.st_uid != uid) or (gid != -1 and st.st_gid != gid):
        os.chown(path, uid, gid)
        changed = True
    return changed


Ids = tuple[int | None, int | None]


def _write_atomically(path: Path, data: bytes, mode: int, want: Ids) -> None:
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)  # before any byte of a key is written
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        _apply_owner_mode(tmp, mode, want)
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def install_file(spec: Spec, owners: Owners) -> bool:
    """Lay ``spec`` down; True if content, mode or owner changed."""
    want = wanted_owner(spec.service_owned, owners)
    try:
        same = spec.path.read_bytes() == spec.data
    except FileNotFoundError:
        same = False
    if same:
        return _apply_owner_mode(spec.path, spec.mode, want)
    _write_atomically(spec.path, spec.data, spec.mode, want)
    return True


def ensure_dir(path: Path, owners: Owners) -> bool:
    """``path`` as root:edge-agent 0750 (what deploy/install.sh makes); True if changed."""
    created = False
    if not path.is_dir():
        path.mkdir(mode=0o750, parents=True)
        created = True
    return _apply_owner_mode(path, 0o750, (owners.root_uid, owners.service_gid)) or created


def render_config(req: Request, existing: bytes | None) -> bytes:
    """The config text: ``existing`` with the provisioned keys set (unchanged if equal)."""
    doc: dict[str, Any] = {}
    if existing is not None:
        try:
            loaded = yaml.safe_load(existing.decode(errors="replace"))
        except yaml.YAMLError as exc:
            raise ProvisionError(
                f"the existing {req.config_path} is not valid YAML ({exc}); fix it or move "
                "it aside, then run provision again"
            ) from None
        if isinstance(loaded, dict):
            doc = dict(loaded)
    before = yaml.safe_dump(doc, sort_keys=False) if doc else None
    gateway = dict(doc.get("gateway") or {})
    gateway.update(id=req.gateway_id, site=req.site)
    mqtt = {k: v for k, v in dict(doc.get("mqtt") or {}).items() if k != "insecure"}
    tls: dict[str, Any] = {
        "ca": str(req.tls_dir / "ca.crt"),
        "cert": str(req.tls_dir / "client.crt"),
        "key": str(req.tls_dir / "client.key"),
    }
    if req.server_name:
        tls["server_name"] = req.server_name
    mqtt.update(host=req.host, port=req.port, tls=tls)
    doc.update(gateway=gateway, mqtt=mqtt)
    doc.setdefault("buffer", {"path": str(req.state_dir / "buffer.db")})
    doc.setdefault("drivers", [])
    after = yaml.safe_dump(doc, sort_keys=False)
    if existing is not None and after == before:
        return existing  # nothing provisioning owns changed: keep the file, comments and all
    return (HEADER + after).encode()


def file_specs(req: Request) -> list[Spec]:
    """What to lay down, read from the installer's files (never logged)."""
    existing = req.config_path.read_bytes() if req.config_path.exists() else None
    return [
        Spec(req.tls_dir / "ca.crt", req.ca.read_bytes(), 0o640, service_owned=False),
        Spec(req.tls_dir / "client.crt", req.cert.read_bytes(), 0o640, service_owned=False),
        Spec(req.tls_dir / "client.key", req.key.read_bytes(), 0o600, service_owned=True),
        Spec(req.config_path, render_config(req, existing), 0o640, service_owned=False),
    ]


def lay_down(req: Request, owners: Owners) -> Outcome:
    """Directories, credentials, then the config that names them."""
    outcome = Outcome()
    specs = file_specs(req)  # read everything before writing anything
    for d in (req.config_dir, req.tls_dir):
        if ensure_dir(d, owners):
            outcome.changed.append(str(d))
    for spec in specs:
        (outcome.changed if install_file(spec, owners) else outcome.unchanged).append(
            str(spec.path)
        )
        uid, gid = wanted_owner(spec.service_owned, owners)
        if uid is None or gid is None:
            outcome.owners_not_set.append(str(spec.path))
    return outcome
