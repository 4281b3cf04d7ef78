"""The gateway-wide checks of ``edge-agent diag``: uplink, clock, disk, outbox, host health.

Device checks belong to each kind (agent/diagnosis.py); these are the ones every gateway
has. All read-only: the outbox through buffer/inspect.py (no lock, no migration), the
host through agent/gateway_health.py's measurements over an injectable sysfs root. The
broker is probed only while the agent is stopped, with the same one-shot connection
``edge-agent provision`` ends with (agent/uplink.py:check_uplink, worded by its
``describe``); while it runs, its uplink state in the live status is the answer (a second
session under the gateway's client id would take the agent's over). Each check's name is a
heading of the runbook in docs/operations.md.
"""

from __future__ import annotations

import time
from pathlib import Path

from agent.config_model import AgentConfig
from agent.diagnosis import DiagContext, Finding
from agent.gateway_health import Probes, measure
from agent.health import read_throttled
from agent.status import HealthReadings, StatusSnapshot
from agent.uplink import check_uplink, describe
from buffer.inspect import InspectError, read_stats

OLDEST_UNSENT_FAIL_S = 900.0
DISK_MIN_FREE_BYTES = 64 << 20
CERT_WARN_DAYS = 30.0
TEMP_WARN_C, TEMP_FAIL_C = 70.0, 80.0  # anchors-reliability.md §5.4: soft limit 80-85 °C
MEMORY_WARN, MEMORY_FAIL = 0.80, 0.90

_BROKER_FIXES = (
    (
        ("certificate verify failed", "certificate_verify_failed", "hostname mismatch"),
        "the broker's certificate does not verify against mqtt.tls.ca: install the CA that "
        "signed it (or set tls.server_name to the name in it)",
    ),
    (
        (
            "not authori",
            "bad user name",
            "bad username",
            "banned",
            "identifier",
            "credentials",
            "client id",
            "client certificate",
            "certificate expired",
        ),
        "the broker refused our credentials: check the client certificate, username and the "
        "broker's ACL for this gateway id",
    ),
    (
        ("refused",),
        "nothing accepts connections at mqtt.host:port: check the address and that the broker runs",
    ),
    (
        ("tls files", "no such file", "pem"),
        "the TLS files cannot be loaded: run edge-agent config check",
    ),
)
_BROKER_FALLBACK = "broker unreachable: check the network, DNS and the firewall for the port"


def broker_fix(reason: str) -> str:
    lowered = reason.lower()
    for needles, fix in _BROKER_FIXES:
        if any(n in lowered for n in needles):
            return fix
    return _BROKER_FALLBACK


def _ok(check: str, target: str, value: str, **measured: object) -> Finding:
    return Finding(check=check, target=target, status="pass", value=value, measured=measured)


def _bad(check: str, target: str, value: str, fix: str, **measured: object) -> Finding:
    return Finding(
        check=check, target=target, status="fail", value=value, fix=fix, measured=measured
    )


def _warn(check: str, target: str, value: str, **measured: object) -> Finding:
    return Finding(check=check, target=target, status="warn", value=value, measured=measured)


def _skip(check: str, value: str) -> Finding:
    return Finding(check=check, status="skip", value=value)


async def broker_checks(cfg: AgentConfig, context: DiagContext) -> list[Finding]:
    target = f"{cfg.mqtt.host}:{cfg.mqtt.effective_port}"
    live = context.live
    if live is not None:
        up = live.uplink
        if up.state == "up":
            found = _ok("broker.connect", target, "connected (the running agent's uplink)")
        elif up.state == "down":
            reason = up.reason or "no reason recorded"
            found = _bad(
                "broker.connect", target, f"agent's uplink down: {reason}", broker_fix(reason)
            )
        else:
            found = _warn("broker.connect", target, "agent still connecting")
    else:
        found = await _probe(cfg, target)
    return [found, _certificate(cfg, context)]


async def _probe(cfg: AgentConfig, target: str) -> Finding:
    """Connect once as the gateway (the agent is stopped) and disconnect; the round trip."""
    started = time.monotonic()
    try:
        await check_uplink(cfg.mqtt, client_id=cfg.gateway.id, timeout_s=cfg.mqtt.timeout_s)
    except TimeoutError as exc:
        why = describe(exc).text
    except (OSError, ValueError) as exc:
        # aiomqtt wraps every socket and TLS failure of a connect in MqttError, so an
        # OSError or ValueError here is from loading our own TLS files.
        why = f"cannot load the TLS files: {exc}"
    except Exception as exc:
        why = describe(exc).text
    else:
        rtt = round((time.monotonic() - started) * 1000, 1)
        tls = "TLS, client certificate" if cfg.mqtt.tls else "PLAINTEXT (insecure)"
        return _ok("broker.connect", target, f"connected ({tls}) in {rtt} ms", rtt_ms=rtt)
    return _bad("broker.connect", target, why, broker_fix(why))


def _certificate(cfg: AgentConfig, context: DiagContext) -> Finding:
    if cfg.mqtt.tls is None:
        return _skip("broker.certificate", "no client certificate (insecure local broker)")
    path = cfg.mqtt.tls.cert
    readings = measure(
        Probes(
            root=Path("/nonexistent"),
            disk_path=path.parent,
            cert_path=path,
            now=lambda: context.now,
        )
    )
    days = readings.cert_expires_in_days
    renew = "renew the gateway's client certificate and install it (edge-agent provision)"
    if days is None:
        return _bad("broker.certificate", str(path), "cannot read the certificate", renew)
    if days <= 0:
        return _bad(
            "broker.certificate",
            str(path),
            f"expired {-days:.0f} days ago",
            renew,
            expires_in_days=days,
        )
    value = f"expires in {days:.0f} days"
    if days < CERT_WARN_DAYS:
        return _warn("broker.certificate", str(path), value + f": {renew}", expires_in_days=days)
    return _ok("broker.certificate", str(path), value, expires_in_days=days)


def clock_check(readings: HealthReadings) -> Finding:
    if readings.clock_synchronised:
        return _ok("clock.sync", "system clock", "synchronised (NTP)")
    return _bad(
        "clock.sync",
        "system clock",
        "not synchronised",
        "enable NTP (timedatectl set-ntp true) and let UDP 123 out to the time server",
    )


def disk_check(readings: HealthReadings, where: Path, low_fraction: float) -> Finding:
    free, share = readings.disk_free_bytes, readings.disk_free_fraction
    if free is None or share is None:
        return _bad(
            "disk.free",
            str(where),
            "cannot stat the outbox's directory",
            "create buffer.path's directory, owned by the service user",
        )
    value = f"{free / (1 << 30):.1f} GiB free ({share:.0%})"
    if share < low_fraction or free < DISK_MIN_FREE_BYTES:
        return _bad(
            "disk.free",
            str(where),
            value,
            "free space on this filesystem (old logs, journal: journalctl --vacuum-size)",
            free_bytes=free,
            free_fraction=share,
        )
    return _ok("disk.free", str(where), value, free_bytes=free, free_fraction=share)


def buffer_checks(cfg: AgentConfig, now_live: StatusSnapshot | None) -> list[Finding]:
    path = cfg.buffer.path
    try:
        stats = read_stats(path)
    except InspectError as exc:
        if not path.exists() and now_live is None:
            return [_skip("buffer.backlog", f"no outbox yet at {path} (agent never ran)")]
        return [
            _bad(
                "buffer.backlog",
                str(path),
                str(exc),
                "stop the agent and run edge-agent buffer stats; see docs/operations.md",
            )
        ]
    share = stats.pending_bytes / cfg.buffer.max_bytes if cfg.buffer.max_bytes else 0.0
    by_prio = ", ".join(f"{k} {v} B" for k, v in stats.bytes_by_priority.items() if v)
    backlog = f"{stats.pending} unsent ({stats.pending_bytes} B{': ' + by_prio if by_prio else ''})"
    found = [
        (_warn if share > 0.5 else _ok)(
            "buffer.backlog",
            str(path),
            backlog,
            pending=stats.pending,
            pending_bytes=stats.pending_bytes,
            bytes_by_priority=stats.bytes_by_priority,
        )
    ]
    if stats.dead:
        found.append(
            _bad(
                "buffer.dead_letters",
                str(path),
                f"{stats.dead} refused by the broker",
                "fix the broker's ACL for edge/<gateway id>/#, then edge-agent buffer requeue-dead",
                dead=stats.dead,
            )
        )
    else:
        found.append(_ok("buffer.dead_letters", str(path), "none", dead=0))
    found.append(_oldest(path, stats.oldest_pending_age_s))
    return found


def _oldest(path: Path, age: float | None) -> Finding:
    if age is None:
        return _ok("buffer.oldest_unsent", str(path), "nothing waiting", age_s=None)
    value = f"{age:.0f} s old"
    if age > OLDEST_UNSENT_FAIL_S:
        return _bad(
            "buffer.oldest_unsent",
            str(path),
            value,
            "events are not leaving: fix broker.connect first",
            age_s=round(age),
        )
    return _ok("buffer.oldest_unsent", str(path), value, age_s=round(age))


def host_checks(readings: HealthReadings, root: Path) -> list[Finding]:
    return [
        _temperature(readings.cpu_temp_c),
        *_power_and_throttling(root),
        _memory(readings.memory_used_fraction),
    ]


def _temperature(temp: float | None) -> Finding:
    if temp is None:
        return _skip("host.temperature", "no thermal zone readable")
    value = f"{temp:.1f} °C"
    if temp >= TEMP_FAIL_C:
        return _bad(
            "host.temperature",
            "CPU",
            value,
            "cool the enclosure: heatsink or fan, shade, free air flow",
            celsius=temp,
        )
    if temp >= TEMP_WARN_C:
        return _warn("host.temperature", "CPU", value, celsius=temp)
    return _ok("host.temperature", "CPU", value, celsius=temp)


def _power_and_throttling(root: Path) -> list[Finding]:
    t = read_throttled(root)
    if t is None:
        why = "no firmware get_throttled file (not a Raspberry Pi)"
        return [_skip("host.power", why), _skip("host.throttling", why)]
    raw = f"get_throttled={t.raw:#x}"
    if t.under_voltage_now:
        power = _bad(
            "host.power",
            "supply",
            f"under-voltage now ({raw})",
            "use the rated power supply (5 V 3 A / 5 A) and a short, thick cable",
            raw=t.raw,
        )
    elif t.under_voltage_occurred:
        power = _warn("host.power", "supply", f"under-voltage since boot ({raw})", raw=t.raw)
    else:
        power = _ok("host.power", "supply", f"no under-voltage ({raw})", raw=t.raw)
    if t.throttled_now or t.freq_capped_now or t.soft_temp_limit_now:
        throttling = _bad(
            "host.throttling",
            "CPU",
            f"throttled now ({raw})",
            "fix power first, then cooling (see host.temperature)",
            raw=t.raw,
        )
    elif t.throttled_occurred or t.freq_capped_occurred:
        throttling = _warn("host.throttling", "CPU", f"throttled since boot ({raw})", raw=t.raw)
    else:
        throttling = _ok("host.throttling", "CPU", f"not throttled ({raw})", raw=t.raw)
    return [power, throttling]


def _memory(used: float | None) -> Finding:
    if used is None:
        return _skip("host.memory", "no /proc/meminfo")
    value = f"{used:.0%} used"
    if used >= MEMORY_FAIL:
        return _bad(
            "host.memory",
            "RAM",
            value,
            "find the process using it (top -o %MEM); restart edge-agent if it is ours",
            used_fraction=used,
        )
    if used >= MEMORY_WARN:
        return _warn("host.memory", "RAM", value, used_fraction=used)
    return _ok("host.memory", "RAM", value, used_fraction=used)
