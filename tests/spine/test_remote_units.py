"""Remote commands without a broker: redaction rules table-tested, and the service's rules
(requester, response topic, a handler's bug) through agent/inbound.py's dispatch."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from agent.app import Agent
from agent.config import load_config
from agent.inbound import InboundMessage
from agent.remote import handlers
from agent.remote.handlers import Command
from agent.remote.logtail import LogRing, Redactor, config_secrets
from agent.remote.models import PingRequest
from agent.remote.service import RemoteCommands
from tests.broker import free_port
from tests.sinks import ListSink
from tests.spine.test_remote import GW, PASSWORD, _config


@pytest.mark.parametrize(
    ("line", "kept", "gone"),
    [
        (f"login with {PASSWORD} failed", "login with *** failed", PASSWORD),
        ("password=hunter22 user=x", "password=*** user=x", "hunter22"),
        ('{"mqtt_password": "p@ss:w0rd!"}', '{"mqtt_password": "***"}', "p@ss:w0rd!"),
        ("client_secret: abc123def", "client_secret: ***", "abc123def"),
        ("API-KEY=k-99 next", "API-KEY=*** next", "k-99"),
        ("rtsp://admin:Cam3ra!@10.1.1.9:554/s1", "rtsp://***@10.1.1.9:554/s1", "Cam3ra!"),
        ("Authorization: Bearer abcdefgh12345678", "Bearer ***", "abcdefgh12345678"),
        (
            "key:\n-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n-----END EC PRIVATE KEY-----\nok",
            "[private key redacted]\nok",
            "MHcCAQEEIB",
        ),
        ("-----BEGIN PRIVATE KEY-----\nMIIEvQ truncated", "[private key redacted]", "MIIEvQ"),
        ("cert /etc/edge-agent/tls/gw.key mode 0600", "/etc/edge-agent/tls/gw.key", "\0"),
    ],
)
def test_redaction_masks_secrets_and_keeps_the_rest(line: str, kept: str, gone: str) -> None:
    out = Redactor([PASSWORD])(line)
    assert kept in out and gone not in out


def test_config_secrets_finds_secret_fields_and_url_passwords(tmp_path: Path) -> None:
    loaded = load_config(_config(tmp_path, 1883))
    assert PASSWORD in config_secrets(loaded.config)
    assert config_secrets(PingRequest()) == []
    # Too short to mask without wrecking every line: not masked (and not a real secret).
    assert Redactor(["ab"])("a b ab") == "a b ab"


def test_log_ring_keeps_the_newest_lines_redacted_and_filters_by_level() -> None:
    ring = LogRing(3, Redactor([PASSWORD]))
    logger = logging.getLogger("tests.ring")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(ring)
    try:
        for i in range(5):
            logger.info("line %d %s", i, PASSWORD)
        logger.error("bad")
    finally:
        logger.removeHandler(ring)
    lines = ring.tail(10)
    assert len(lines) == 3 and "line 4 ***" in lines[1] and lines[1].split(" ")[0].endswith("Z")
    assert ring.tail(10, "ERROR") == [lines[-1]] and "bad" in lines[-1]
    assert all(PASSWORD not in ln for ln in lines)


Replies = list[tuple[str, bytes, bytes | None]]


def _service(tmp_path: Path) -> tuple[RemoteCommands, ListSink]:
    agent = Agent(load_config(_config(tmp_path, 1883)))
    ctx = handlers.RemoteContext(
        gateway_id=GW,
        config=agent.loaded.config.remote,
        staged=agent.staged,
        supervisor=agent.supervisor,
        outbox=agent.outbox,
        logs=LogRing(10, Redactor()),
        redact=Redactor(),
        status=agent.status.collect,
        started=0.0,
    )
    sink = ListSink()
    return RemoteCommands(ctx, sink), sink


def _send(service: RemoteCommands, *messages: InboundMessage) -> Replies:
    replies: Replies = []

    async def main() -> None:
        for m in messages:
            await service.handle(m, lambda t, p, c: replies.append((t, p, c)))

    asyncio.run(main())
    return replies


def test_requester_comes_from_the_user_property_first_and_must_be_an_opaque_ref(
    tmp_path: Path,
) -> None:
    service, sink = _service(tmp_path)
    topic, reply_to = f"edge/{GW}/cmd/ping", f"edge/{GW}/reply/p"
    _send(
        service,
        InboundMessage(topic, b'{"requester": "job-1"}', reply_to, b"1", (("requester", "op-7"),)),
        InboundMessage(topic, b'{"requester": "job-2"}', reply_to, b"2", (("requester", "A B"),)),
        InboundMessage(topic, b"{}", reply_to, b"3"),
        InboundMessage(topic, b'{"requester": "Mrs Smith, flat 3"}', reply_to, b"4"),
    )
    got = [e.data["requester"] for e in sink.of_type("gateway.command")]
    outcomes = [e.data["outcome"] for e in sink.of_type("gateway.command")]
    assert got == ["op-7", "job-2", None, None] and outcomes == ["ok", "ok", "ok", "rejected"]


def test_replies_go_only_to_our_own_subtree_and_never_to_a_command_topic(
    tmp_path: Path,
) -> None:
    service, sink = _service(tmp_path)
    topic = f"edge/{GW}/cmd/ping"
    replies = _send(
        service,
        InboundMessage(topic, b"", "platform/replies/x", b"1"),
        InboundMessage(topic, b"", f"edge/{GW}/cmd/ping", b"2"),
        InboundMessage(topic, b"", "edge/gw-other/reply/p", b"3"),
        InboundMessage(topic, b"", f"edge/{GW}/reply/#", b"4"),
        InboundMessage(topic, b""),
        InboundMessage(topic, b"", f"edge/{GW}/reply/p", b"5"),
    )
    assert [(t, c) for t, _p, c in replies] == [(f"edge/{GW}/reply/p", b"5")]
    assert [e.data["replied"] for e in sink.of_type("gateway.command")] == [False] * 5 + [True]


def test_a_bug_in_a_command_is_an_internal_error_reply_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(_req: Any, _ctx: Any) -> Any:
        raise ZeroDivisionError("oops")

    monkeypatch.setitem(handlers.COMMANDS, "ping", Command(PingRequest, broken))
    service, sink = _service(tmp_path)
    msg = InboundMessage(f"edge/{GW}/cmd/ping", b"", f"edge/{GW}/reply/p", b"c")
    replies = _send(service, msg, msg)
    docs = [json.loads(p) for _t, p, _c in replies]
    assert [d["error"]["code"] for d in docs] == ["internal", "internal"]
    assert "ZeroDivisionError" in docs[0]["error"]["message"]
    assert [e.data["outcome"] for e in sink.events] == ["error", "error"]
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1  # logged once


def test_a_command_still_running_when_the_agent_stops_is_cancelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def hang(_req: Any, _ctx: Any) -> Any:
        started.set()
        await asyncio.Event().wait()

    monkeypatch.setitem(handlers.COMMANDS, "ping", Command(PingRequest, hang))
    started = asyncio.Event()

    async def main() -> int:
        # No broker at this port: the agent runs on, its uplink retrying.
        agent = Agent(load_config(_config(tmp_path, free_port())))
        task = asyncio.create_task(agent.run())
        msg = InboundMessage(f"edge/{GW}/cmd/ping", b"", f"edge/{GW}/reply/p", b"c")
        agent.inbound.dispatch(msg, lambda *a: None)
        await started.wait()
        agent.stop.set()
        return await asyncio.wait_for(task, 15)

    assert asyncio.run(main()) == 0
