"""Console pieces on their own: the password hash, sessions and login limit, the zone
checks, the config rewrite, ``console passwd``, the config checks and the event tap."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.cli import main
from agent.commands.console import set_hash
from agent.config import ConfigError, parse_config
from agent.console.auth import LoginLimiter, Sessions, hash_password, verify_password
from agent.console.tap import EventTap
from agent.console.zones import check_zones, with_zones
from agent.events import Attachment, Event, Priority, Severity


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_password_hash_is_salted_scrypt_and_verifies() -> None:
    a, b = hash_password("s3cret-pass"), hash_password("s3cret-pass")
    assert a != b and a.startswith("scrypt$16384$8$1$") and "s3cret" not in a
    assert verify_password("s3cret-pass", a) and verify_password("s3cret-pass", b)
    assert not verify_password("s3cret-pasS", a)
    for broken in ("", "plain", "scrypt$1$2$3$!!$??", "bcrypt$x$y$z$a$b"):
        assert not verify_password("s3cret-pass", broken)


def test_login_limiter_throttles_the_sixth_failure_in_a_window() -> None:
    clock = Clock()
    limiter = LoginLimiter(clock=clock)
    for _ in range(5):
        assert limiter.retry_after("10.0.0.9") == 0
        limiter.failed("10.0.0.9")
    assert limiter.retry_after("10.0.0.9") > 0
    assert limiter.retry_after("10.0.0.8") == 0  # per address
    clock.t += 60.0
    assert limiter.retry_after("10.0.0.9") == 0


def test_sessions_expire_and_check_their_csrf_token() -> None:
    clock = Clock()
    sessions = Sessions(ttl_s=100, clock=clock)
    s = sessions.create()
    assert sessions.get(s.token) is s
    assert sessions.csrf_ok(s, s.csrf) and not sessions.csrf_ok(s, None)
    assert not sessions.csrf_ok(s, s.token)
    clock.t += 101
    assert sessions.get(s.token) is None


def _zone(**kw: Any) -> dict[str, Any]:
    return {"id": "bay", "kind": "corridor", "grace_s": 60,
            "polygon": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.1, 0.5]], **kw}  # fmt: skip


@pytest.mark.parametrize(
    ("zones", "key", "needle"),
    [
        ([_zone(polygon=[[0.1, 0.1], [0.5, 0.1]])], "zones[0].polygon", "at least 3 points"),
        ([_zone(polygon=[[0.1, 0.1], [1.2, 0.1], [0.5, 0.5]])], "zones[0].polygon", "outside"),
        (
            [_zone(polygon=[[0.1, 0.1], [0.5, 0.5], [0.5, 0.1], [0.1, 0.5]])],
            "zones[0].polygon",
            "cross",
        ),
        ([_zone(), _zone()], "zones[1].id", "already used"),
        ([_zone(id="Bad Name")], "zones[0].id", "lower-case"),
        ([_zone(kind="garage")], "zones[0].kind", "kind must be"),
        ([_zone(grace_s=-1)], "zones[0].grace_s", "0 to 86400"),
        ([_zone(grace_s="soon")], "zones[0].grace_s", "0 to 86400"),
        ([], "zones", "at least one zone"),
    ],
)
def test_invalid_zones_are_reported_per_field(zones: list[Any], key: str, needle: str) -> None:
    clean, errors = check_zones(zones)
    assert clean == [] and needle in errors[key]


def test_valid_zones_replace_the_cameras_list_and_keep_keys_the_editor_does_not_show() -> None:
    text = yaml.safe_dump({"drivers": [
        {"name": "lifts", "kind": "modbus"},
        {"name": "cam", "kind": "camera", "zones": [
            {"id": "car", "kind": "elevator_car", "elevator": "lift-1", "polygon": [],
             "schedules": [{"start": "22:00", "end": "06:00"}]},
            {"id": "old", "kind": "corridor", "polygon": []}]},
    ]})  # fmt: skip
    clean, errors = check_zones([_zone(id="car", kind="fire_lane"), _zone(id="new")])
    assert not errors
    doc = yaml.safe_load(with_zones(text, "cam", clean))
    car, new = doc["drivers"][1]["zones"]
    assert [car["id"], new["id"]] == ["car", "new"]
    assert car["kind"] == "fire_lane" and car["schedules"] and "elevator" not in car
    assert new["polygon"] == [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.1, 0.5]]
    with pytest.raises(KeyError):
        with_zones(text, "lifts", clean)


BASE = "gateway: {id: gw-1}\nmqtt: {host: 127.0.0.1, insecure: true}\nbuffer: {path: %s/b.db}\n"


def test_set_hash_edits_lines_and_keeps_comments() -> None:
    block = BASE + "# the console\nconsole:\n    listen: 127.0.0.1:8080  # local only\n"
    out = set_hash(block, "scrypt$1$1$1$AA==$BB==")
    assert out is not None and "# local only" in out and "# the console" in out
    assert '    password_hash: "scrypt$1$1$1$AA==$BB=="' in out
    again = set_hash(out, "scrypt$2$2$2$CC==$DD==")
    assert again is not None and again.count("password_hash") == 1 and "CC==" in again
    added = set_hash(BASE, "scrypt$1$1$1$AA==$BB==")
    assert added is not None and added.endswith('  password_hash: "scrypt$1$1$1$AA==$BB=="\n')
    assert set_hash(BASE + "console: {listen: '127.0.0.1:9'}\n", "x") is None


def test_console_passwd_writes_a_hash_that_verifies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(BASE % tmp_path + "# keep me\n")
    cfg.chmod(0o640)
    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    assert main(["console", "passwd", "--config", str(cfg), "--password-stdin"]) == 0
    out = capsys.readouterr().out
    stored = yaml.safe_load(cfg.read_text())["console"]["password_hash"]
    assert verify_password("a long password", stored)
    assert stored not in out and "a long password" not in out
    assert "# keep me" in cfg.read_text() and cfg.stat().st_mode & 0o777 == 0o640
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["console", "passwd", "--config", str(cfg), "--password-stdin"]) == 2


@pytest.mark.parametrize(
    ("console", "needle"),
    [
        ("{listen: '0.0.0.0:8080'}", "without TLS refused"),
        ("{listen: '127.0.0.1:8080', tls: true}", "needs console.cert or mqtt.tls"),
        ("{listen: '127.0.0.1:8080', tls: true, cert: /nope.crt, key: /nope.key}", "cannot read"),
    ],
)
def test_console_config_checks(tmp_path: Path, console: str, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(BASE % tmp_path + f"console: {console}\n", "site.yaml")
    assert needle in str(err.value) and "site.yaml:4 console." in str(err.value)


class _PlainSink:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def emit(self, event: Event) -> None:
        self.events.append(event)


def _ev(type_: str, subject: str, data: dict[str, Any], **kw: Any) -> Event:
    return Event(type=type_, subject=subject, data=data, **kw)


def test_the_tap_keeps_cars_devices_and_violations_and_never_vital_values() -> None:
    async def go() -> EventTap:
        # A plain sink, not the contract-checked ListSink: these events are shaped for
        # what the tap reads, not complete contract documents.
        inner = _PlainSink()
        tap = EventTap(inner)
        flag = tap.listen()
        await tap.emit(_ev("elevator.status", "lift-1", {"floor": 3, "door": "closed",
                                                          "active": ["X"]}))  # fmt: skip
        assert flag.is_set() and len(inner.events) == 1
        await tap.emit(_ev("elevator.alarm", "lift-1", {"key": "ENTRAP_LEVEL", "state": "raised",
                                                         "label_zh": "平层困人"},
                           priority=Priority.ALARM, severity=Severity.CRITICAL))  # fmt: skip
        await tap.emit(_ev("resident.vitals", "band-1", {"resident": "r-1",
                           "hr": {"min": 60, "mean": 70, "max": 80, "n": 5},
                           "battery": {"min": 40, "mean": 41.5, "max": 43, "n": 5},
                           "wear": {"min": 1, "mean": 1.0, "max": 1, "n": 5}}))  # fmt: skip
        await tap.emit(_ev("parking.violation.started", "cam/bay",
                           {"violation_id": "v1", "evidence": [{"n": 1}]},
                           attachments=(Attachment(b"\xff\xd8jpeg"),)))  # fmt: skip
        return tap

    tap = asyncio.run(go())
    car = tap.cars["lift-1"]
    assert car.status["floor"] == 3 and "active" not in car.status
    assert set(car.faults) == {"ENTRAP_LEVEL"}
    r = tap.residents["band-1"]
    assert (r.battery, r.worn) == (41.5, True)
    assert not hasattr(r, "hr") and all("hr" not in str(s) for s in tap.recent)
    assert tap.violations["v1"].images == [b"\xff\xd8jpeg"]
    tap.fold(_ev("elevator.alarm", "lift-1", {"key": "ENTRAP_LEVEL", "state": "cleared"}))
    tap.fold(_ev("parking.violation.cleared", "cam/bay", {"violation_id": "v1"}))
    assert not car.faults and not tap.violations
    assert [e["type"] for e in tap.recent][-1] == "parking.violation.cleared"
