"""Start-up checks that need files, users or registries: ``config check`` minus the devices.

Schema validation says a config is well-formed; these say the agent will start with it.
``edge-agent config check`` and ``edge-agent run`` both run :func:`startup_problems`, and
each kind adds its own checks through the ``check`` hook in agent/kinds.py (a Modbus
profile that resolves, rule overrides that name real keys, a model file with the right
sha256), so the two cannot drift.

Readability is judged for the user the service runs as. ``config check`` normally runs
as that user already (the unit's ``ExecStartPre``); an installer running it as root names
the user with ``--user edge-agent``, and then the owner, group and mode bits of the file
and of every directory above it decide (issue 9 item 8: a root-owned 0600 key passed a
check that only called ``stat``). POSIX ACLs are not evaluated.
"""

from __future__ import annotations

import grp
import ipaddress
import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path

from agent.config_model import AgentConfig, MqttConfig
from agent.driver import CheckContext, DriverConfigBase
from agent.kinds import KINDS, Kind, check_hook, find

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str]

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


@dataclass(frozen=True)
class ServiceUser:
    """Whose permissions count: a named user's ids, or ``None`` fields for this process."""

    name: str
    uid: int
    gids: frozenset[int]

    @classmethod
    def named(cls, name: str) -> ServiceUser:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise LookupError(f"no user {name!r} on this host") from None
        gids = {entry.pw_gid} | {g.gr_gid for g in grp.getgrall() if name in g.gr_mem}
        return cls(name, entry.pw_uid, frozenset(gids))


def _allowed(st: os.stat_result, user: ServiceUser, bits: int) -> bool:
    """``bits`` is a mix of 4 (read), 2 (write), 1 (search/execute) for ``user``."""
    if user.uid == 0:
        return True
    if st.st_uid == user.uid:
        shift = 6
    elif st.st_gid in user.gids:
        shift = 3
    else:
        shift = 0
    return (st.st_mode >> shift) & bits == bits


def _denied(path: Path, bits: int, user: ServiceUser | None) -> str | None:
    """Why ``user`` (or this process) may not use ``path`` with ``bits``; None if it may."""
    if user is None:
        want = (
            (os.R_OK if bits & 4 else 0)
            | (os.W_OK if bits & 2 else 0)
            | (os.X_OK if bits & 1 else 0)
        )
        return None if os.access(path, want) else "permission denied"
    resolved = path.resolve()
    for parent in reversed(resolved.parents):
        if not _allowed(parent.stat(), user, 1):
            return f"user {user.name} cannot enter {parent}"
    st = resolved.stat()
    if not _allowed(st, user, bits):
        return (
            f"user {user.name} may not {'write' if bits & 2 else 'read'} it "
            f"(owner uid {st.st_uid}, gid {st.st_gid}, mode {stat.S_IMODE(st.st_mode):04o})"
        )
    return None


def _readable_file(path: Path, user: ServiceUser | None) -> str | None:
    try:
        if user is None:
            with path.open("rb") as f:  # open, not stat: this is what start-up does
                f.read(1)
            return None
        return _denied(path, 4, user)
    except OSError as exc:
        return exc.strerror or str(exc)


def tls_problems(mqtt: MqttConfig, user: ServiceUser | None) -> list[Problem]:
    tls = mqtt.tls
    if tls is None:
        return []
    problems: list[Problem] = []
    for key, p in (("ca", tls.ca), ("cert", tls.cert), ("key", tls.key)):
        loc: Loc = ("mqtt", "tls", key)
        why = _readable_file(p, user)
        if why is not None:
            problems.append((loc, f"cannot read {p}: {why}"))
            continue
        mode = p.stat().st_mode
        if key == "key" and mode & (stat.S_IRWXG | stat.S_IRWXO):
            problems.append(
                (
                    loc,
                    f"private key {p} is accessible by group/others "
                    f"(mode {stat.S_IMODE(mode):04o}); run: chmod 600 {p}",
                )
            )
    return problems


def is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def plaintext_problems(mqtt: MqttConfig) -> list[Problem]:
    """``insecure`` is for a broker on this host only (docs/operations.md; issue 9 item 6),
    the failover brokers included."""
    if not mqtt.insecure:
        return []
    hosts: list[tuple[Loc, str]] = [(("mqtt", "insecure"), mqtt.host)]
    hosts += [(("mqtt", "failover", i, "host"), e.host) for i, e in enumerate(mqtt.failover)]
    return [
        (
            loc,
            f"plaintext MQTT to {host} refused: insecure: true is only for a broker on "
            "this host (127.0.0.1, ::1, localhost); configure tls: {ca, cert, key}",
        )
        for loc, host in hosts
        if not is_loopback(host)
    ]


def failover_problems(mqtt: MqttConfig) -> list[Problem]:
    """A broker listed twice would be tried twice a round: a typo, most likely."""
    problems: list[Problem] = []
    seen = {mqtt.endpoints[0]}
    for i, endpoint in enumerate(mqtt.endpoints[1:]):
        if endpoint in seen:
            problems.append(
                (("mqtt", "failover", i), f"broker {endpoint[0]}:{endpoint[1]} is listed twice")
            )
        seen.add(endpoint)
    return problems


def state_dir_problems(cfg: AgentConfig, user: ServiceUser | None) -> list[Problem]:
    """The state directory (or, if missing, the directory that will hold it) is writable."""
    loc: Loc = ("state_dir",) if cfg.state_dir is not None else ("buffer", "path")
    target = cfg.resolved_state_dir
    probe = target
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        return [(loc, f"state directory {target}: {probe} is not a directory")]
    why = _denied(probe, 2 | 1, user)
    if why is None:
        return []
    if probe == target:
        return [(loc, f"state directory {target} is not writable: {why}")]
    return [(loc, f"state directory {target} cannot be created in {probe}: {why}")]


def console_problems(cfg: AgentConfig, user: ServiceUser | None) -> list[Problem]:
    """A console on the network only over TLS; its certificate and key readable."""
    console = cfg.console
    if console is None:
        return []
    problems: list[Problem] = []
    host, port = console.host_port
    if not 1 <= port <= 65535:
        problems.append((("console", "listen"), f"port {port} is out of range 1-65535"))
    if not console.tls and not is_loopback(host):
        problems.append(
            (
                ("console", "listen"),
                f"console on {host} without TLS refused: set tls: true (the gateway's "
                "certificate) or listen on 127.0.0.1",
            )
        )
    if console.tls:
        tls = cfg.mqtt.tls
        for key, given, fallback in (
            ("cert", console.cert, tls.cert if tls else None),
            ("key", console.key, tls.key if tls else None),
        ):
            path = given or fallback
            if path is None:
                problems.append((("console", key), f"tls: true needs console.{key} or mqtt.tls"))
                continue
            why = _readable_file(path, user)
            if why is not None:
                problems.append((("console", key), f"cannot read {path}: {why}"))
    return problems


def startup_problems(
    cfg: AgentConfig,
    *,
    kinds: tuple[Kind, ...] = KINDS,
    user: ServiceUser | None = None,
    cwd: Path | None = None,
) -> list[Problem]:
    """Everything start-up would trip over, as (key path, message) pairs."""
    problems = [
        *plaintext_problems(cfg.mqtt),
        *failover_problems(cfg.mqtt),
        *tls_problems(cfg.mqtt, user),
        *state_dir_problems(cfg, user),
        *console_problems(cfg, user),
    ]
    context = CheckContext(state_dir=cfg.resolved_state_dir, cwd=cwd or Path.cwd())
    drivers: list[DriverConfigBase] = list(cfg.drivers)
    for i, driver in enumerate(drivers):
        hook = check_hook(find(str(getattr(driver, "kind", "")), kinds))
        if hook is None or not driver.enabled:
            continue
        for problem in hook(driver, context):
            problems.append((("drivers", i, *problem.path), problem.message))
    return problems
