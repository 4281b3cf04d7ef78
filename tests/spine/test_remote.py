"""Remote commands against a real Mosquitto, a real paho v5 requester and the real agent
(in-process ``Agent``, and one test with the agent as a child process)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.app import Agent
from agent.config import load_config
from agent.events import Event
from agent.gateway_events import config_fingerprint
from buffer.config import BufferConfig
from buffer.outbox import Outbox
from tests.broker import Mosquitto, Subscriber
from tests.spine.agentproc import AgentProcess, synthetic, write_config
from tests.spine.remote_client import Requester
from tests.spine.test_forwarder import until

GW = "gw-remote"
PASSWORD = "Tr0ub4dor-broker-pw"
CAM_PASSWORD = "cam-s3cret-77"


@pytest.fixture(autouse=True)
def _info_logs(caplog: pytest.LogCaptureFixture) -> None:
    # The agent's command line sets INFO (agent/logs.py); in-process tests do it here.
    caplog.set_level(logging.INFO)


@contextlib.contextmanager
def audit(broker: Mosquitto) -> Iterator[Subscriber]:
    """The platform's view of the gateway's events (gateway.command among them). Not a
    fixture: pytest would keep the client (and its sockets) past the leak check."""
    sub = Subscriber(broker.port, f"edge/{GW}/events/#", client_id="audit")
    try:
        yield sub
    finally:
        sub.close()


def _config(
    tmp: Path, port: int, drivers: list[dict[str, Any]] | None = None, **extra: Any
) -> Path:
    return write_config(
        tmp / "config.yaml",
        port=port,
        buffer=tmp / "outbox.db",
        gateway=GW,
        drivers=drivers or [synthetic(0, 2, name="tick")],
        mqtt={
            "host": "127.0.0.1",
            "port": port,
            "insecure": True,
            "reconnect_max_s": 2.0,
            "username": "gw-remote",
            "password": PASSWORD,
        },
        extra={"remote": {"enabled": True, "apply_health_s": 10}, **extra},
    )


@contextlib.asynccontextmanager
async def running(config: Path) -> AsyncIterator[Agent]:
    agent = Agent(load_config(config))
    task = asyncio.create_task(agent.run())
    try:
        await until(agent.forwarder.connected.is_set)
        yield agent
    finally:
        agent.stop.set()
        await asyncio.wait_for(task, 15)


def _run(tmp: Path, broker: Mosquitto, body: Callable[[Requester, Agent], Any]) -> Any:
    requester = Requester(broker.port, GW)

    async def main() -> Any:
        async with running(_config(tmp, broker.port)) as agent:
            await asyncio.to_thread(requester.wait_ready)
            return await asyncio.to_thread(body, requester, agent)

    try:
        return asyncio.run(main())
    finally:
        requester.close()


def _retained_status(broker: Mosquitto) -> dict[str, Any]:
    """What a platform joining now reads on ``edge/{GW}/status`` (the retained message)."""
    status = Subscriber(broker.port, f"edge/{GW}/status", client_id="late-platform")
    try:
        assert status.wait(lambda s: s.on_topic("/status"), 10)
        return dict(json.loads(status.on_topic("/status")[-1]))
    finally:
        status.close()


async def _seed_dead_letter(path: Path) -> None:
    box = Outbox(BufferConfig(path=path), source=f"/edge/{GW}/buffer")
    await box.open()
    await box.append([Event(type="test.sample", subject="dead-one", data={"n": -1})])
    rows = await box.pending(10)
    await box.dead_letter([(rows[0].id, "PUBACK 0x87 Not authorized")])
    await box.close()


def test_each_command_is_answered_on_its_response_topic_with_its_correlation_data(
    tmp_path: Path, broker: Mosquitto
) -> None:
    asyncio.run(_seed_dead_letter(tmp_path / "outbox.db"))
    with audit(broker) as events:
        replies = _run(tmp_path, broker, _each_command)
        # The requeued dead letter was delivered; every command recorded, with its requester.
        assert events.wait(lambda s: any(e["subject"] == "dead-one" for e in s.events()), 30)
        assert events.wait(lambda s: len(_commands(s)) >= 9, 30)
        recorded = _commands(events)
    _check_each_command(tmp_path, replies, recorded)


def _each_command(req: Requester, agent: Agent) -> dict[str, dict[str, Any]]:
    out = {}
    for name, args in [
        ("ping", {}),
        ("diag", {}),
        ("config.get", {}),
        ("buffer.stats", {}),
        ("buffer.requeue-dead", {}),
        ("driver.restart", {"driver": "tick"}),
        ("logs.tail", {"lines": 20}),
        ("snapshot", {"camera": "gate-cam"}),
    ]:
        out[name] = req.ask(name, args)
    assert len(req.raw) == len({c for _t, _p, c in req.raw})  # one reply per request
    assert all(t == f"edge/{GW}/reply/platform" for t, _p, _c in req.raw)
    return out


def _check_each_command(
    tmp_path: Path, r: dict[str, dict[str, Any]], recorded: list[dict[str, Any]]
) -> None:

    assert all(v["gateway"] == GW and v["command"] == k for k, v in r.items())
    assert r["ping"]["ok"] and r["ping"]["result"]["version"]
    diag = {f["check"]: f for f in r["diag"]["result"]["findings"]}
    # The crews' checks, run in the agent: the seeded dead letter is named, with its fix.
    assert diag["buffer.dead_letters"]["status"] == "fail" and diag["buffer.dead_letters"]["fix"]
    assert (
        diag["broker.connect"]["status"] == "pass" and "uplink" in diag["broker.connect"]["value"]
    )
    assert diag["synthetic.device"]["target"] == "tick"
    cfg = r["config.get"]["result"]
    assert cfg["sha256"] == hashlib.sha256((tmp_path / "config.yaml").read_bytes()).hexdigest()
    assert cfg["config"]["mqtt"]["password"] == "**********"
    assert r["buffer.stats"]["result"]["dead"] == 1
    assert r["buffer.requeue-dead"]["result"] == {"requeued": 1}
    assert r["driver.restart"]["result"]["driver"] == "tick"
    assert any(
        "command ping from ops-console-7: ok" in ln for ln in r["logs.tail"]["result"]["lines"]
    )
    assert not r["snapshot"]["ok"] and r["snapshot"]["error"]["code"] == "refused"
    assert {c["command"] for c in recorded} == set(r)
    assert all(c["requester"] == "ops-console-7" and c["replied"] for c in recorded)
    assert next(c for c in recorded if c["command"] == "snapshot")["outcome"] == "rejected"


def _commands(sub: Subscriber) -> list[dict[str, Any]]:
    return [e["data"] for e in sub.events() if e["type"] == "gateway.command"]


BROKEN_SERIAL = {
    "name": "band",
    "kind": "serial",
    "port": "/nonexistent/tty-remote-test",
    "codec": "bracelet",
    "devices": [{"id": "band-1", "resident": "r-0001", "frame_id": "0000ABCD"}],
}


def test_a_config_apply_that_breaks_a_driver_rolls_back_on_its_own_and_says_so(
    tmp_path: Path, broker: Mosquitto
) -> None:
    live = tmp_path / "config.yaml"

    def body(req: Requester, agent: Agent) -> tuple[dict[str, Any], ...]:
        before = live.read_bytes()
        born_with = config_fingerprint(agent.staged.current.config)
        tick = synthetic(0, 2, name="tick")
        broken = req.ask("config.apply", {"drivers": [tick, BROKEN_SERIAL], "health_s": 10}, 60)
        assert live.read_bytes() == before
        assert set(agent.supervisor.health) == {"tick"}
        healthy = req.ask("config.apply", {"drivers": [synthetic(0, 5, name="tick")]}, 60)
        assert agent.supervisor.health["tick"].state == "running"
        # The retained birth says the config now live, not the one the agent started with.
        birth = _retained_status(broker)
        assert birth["config_sha256"] == config_fingerprint(agent.staged.current.config)
        assert birth["config_sha256"] != born_with and birth["state"] == "online"
        again = req.ask("config.get")
        return broken, healthy, again, before

    broken, healthy, again, before = _run(tmp_path, broker, body)
    assert not broken["ok"] and broken["error"]["code"] == "failed"
    assert "rolled back" in broken["error"]["message"] and "band" in broken["error"]["message"]
    res = broken["result"]
    assert res["rolled_back"] and res["stage"] == "health" and "band" in res["unhealthy"]
    assert res["sha256"] == res["previous_sha256"] == hashlib.sha256(before).hexdigest()
    assert (
        healthy["ok"]
        and healthy["result"]["applied"]
        and healthy["result"]["restarted"] == ["tick"]
    )
    assert healthy["result"]["sha256"] == hashlib.sha256(live.read_bytes()).hexdigest()
    assert again["result"]["sha256"] == healthy["result"]["sha256"]
    assert yaml.safe_load(live.read_text())["drivers"][0]["rate_hz"] == 5


def test_config_apply_refuses_an_invalid_config_with_its_problems(
    tmp_path: Path, broker: Mosquitto
) -> None:
    def body(req: Requester, agent: Agent) -> tuple[dict[str, Any], dict[str, Any]]:
        bad = req.ask("config.apply", {"drivers": [synthetic(0, -1, name="tick")]})
        text = (tmp_path / "config.yaml").read_text().replace(GW, "gw-elsewhere")
        scope = req.ask("config.apply", {"config": text})
        return bad, scope

    bad, scope = _run(tmp_path, broker, body)
    assert bad["error"]["code"] == "refused"
    assert any("drivers[0].rate_hz" in p for p in bad["error"]["problems"])
    assert scope["error"]["code"] == "refused" and "gateway" in scope["error"]["message"]


def test_a_command_on_another_gateways_topic_is_ignored(tmp_path: Path, broker: Mosquitto) -> None:
    def body(req: Requester, agent: Agent) -> tuple[list[bytes], set[bytes], int, int]:
        received = agent.inbound.stats.received
        foreign = [
            req.send("ping", gateway="gw-other"),
            req.send("driver.restart", {"driver": "tick"}, gateway="gw-other"),
            # Even with a response topic in our subtree, another gateway's command is not ours.
            req.send("ping", gateway="gw-other", response_topic=f"edge/{GW}/reply/platform"),
        ]
        restarts = agent.supervisor.health["tick"].restarts
        # Sent after the foreign ones on the same connection: once this one is answered,
        # the broker has routed those too.
        req.ask("ping")
        assert agent.supervisor.health["tick"].restarts == restarts
        return foreign, {c for _t, _p, c in req.raw if c}, received, agent.inbound.stats.received

    foreign, answered, before, after = _run(tmp_path, broker, body)
    assert not answered & set(foreign)
    assert after == before + 1  # only our own ping reached the gateway


def _nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {}
    for _ in range(depth):
        node = {"a": node}
    return node


def test_malformed_and_unknown_commands_get_an_error_reply_and_the_gateway_goes_on(
    tmp_path: Path, broker: Mosquitto
) -> None:
    cases: list[tuple[str, bytes | dict[str, Any], str]] = [
        ("ping", b"{not json", "malformed"),
        ("ping", b"\xff\xfe", "malformed"),
        ("ping", b"[1, 2]", "malformed"),
        ("ping", {"unexpected": 1}, "malformed"),
        ("logs.tail", {"lines": "all"}, "malformed"),
        ("logs.tail", {"lines": 10**9}, "malformed"),
        ("driver.restart", {}, "malformed"),
        ("driver.restart", {"driver": "../../etc"}, "malformed"),
        ("driver.restart", {"driver": "nope"}, "refused"),
        ("config.apply", {"config": "a: 1", "drivers": []}, "malformed"),
        ("config.apply", {"config": "drivers: [}"}, "refused"),
        ("shell", {"cmd": "rm -rf /"}, "unknown_command"),
        ("exec", b"id", "unknown_command"),
        ("PING", {}, "unknown_command"),
        ("ping", b"x" * (600 * 1024), "malformed"),
        ("ping", b"[" * 200_000, "malformed"),
        ("config.apply", {"drivers": [_nested(40)]}, "malformed"),
    ]

    def body(req: Requester, agent: Agent) -> list[dict[str, Any]]:
        got = [req.ask(name, payload) for name, payload, _ in cases]
        got.append(req.ask("ping"))
        return got

    got = _run(tmp_path, broker, body)
    for (name, _payload, code), reply in zip(cases, got, strict=False):
        assert not reply["ok"] and reply["error"]["code"] == code, (name, reply)
    assert got[-1]["ok"]
    assert "driver" in " ".join(got[6]["error"]["problems"])  # says which field


SECRET_LINES = [
    f"connecting with password={PASSWORD}",
    f'config dump {{"password": "{PASSWORD}"}}',
    f"bare secret in a message: {PASSWORD}",
    f"camera url rtsp://admin:{CAM_PASSWORD}@10.0.0.9/stream",
    "token: abcdef0123456789 and api_key=sk-live-99887766",
    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig",
]
KEY_PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"


def _log_secrets() -> None:
    # In a thread of its own: the logged traceback (kept by pytest's log capture) must not
    # chain back to frames that hold the requester and its sockets.
    thread = threading.Thread(target=_log_secret_lines)
    thread.start()
    thread.join()


def _log_secret_lines() -> None:
    noisy = logging.getLogger("drivers.remote_test")
    for line in SECRET_LINES:
        noisy.warning("%s", line)
    noisy.error("loaded key material:\n%s", KEY_PEM)
    try:
        raise ValueError(f"bad credentials {PASSWORD}")
    except ValueError:
        noisy.exception("a traceback that carries the secret")


def test_logs_tail_never_returns_a_password_or_key(tmp_path: Path, broker: Mosquitto) -> None:
    def body(req: Requester, agent: Agent) -> list[bytes]:
        _log_secrets()
        req.ask("logs.tail", {"lines": 200})
        req.ask("logs.tail", {"lines": 5, "level": "ERROR"})
        req.ask("config.get")
        req.ask("diag")
        return [p for _t, p, _c in req.raw]

    captured = b"\n".join(_run(tmp_path, broker, body))
    for secret in (PASSWORD, CAM_PASSWORD, "abcdef0123456789", "sk-live-99887766",
                   "eyJhbGciOiJIUzI1NiJ9", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"):  # fmt: skip
        assert secret.encode() not in captured, secret
    text = captured.decode()
    assert "connecting with password=***" in text and "rtsp://***@10.0.0.9" in text
    assert "[private key redacted]" in text and "a traceback that carries" in text


def test_remote_commands_against_the_agent_process(tmp_path: Path, broker: Mosquitto) -> None:
    """The real ``python -m agent run``: answered, audited, rolled back, stopped cleanly."""
    proc = AgentProcess(_config(tmp_path, broker.port), tmp_path / "agent.log").start()
    requester = Requester(broker.port, GW)
    try:
        with audit(broker) as events:
            assert requester.wait_ready(60)["ok"]
            tick = synthetic(0, 2, name="tick")
            broken = requester.ask("config.apply", {"drivers": [tick, BROKEN_SERIAL]}, 90)
            tail = requester.ask("logs.tail", {"lines": 300})
            assert events.wait(lambda s: len(_commands(s)) >= 3, 30)
    finally:
        requester.close()
        code = proc.terminate()
    assert code == 0
    assert broken["result"]["rolled_back"] and broken["error"]["code"] == "failed"
    assert any("rolling back" in line for line in tail["result"]["lines"])
    assert PASSWORD not in json.dumps(tail) and PASSWORD not in proc.log()
    assert "command config.apply from ops-console-7: error (failed)" in proc.log()
