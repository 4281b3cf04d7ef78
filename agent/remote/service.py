"""Remote commands end to end: topic -> allow-list -> schema -> handler -> reply and audit.

One route, ``edge/{gateway_id}/cmd/+`` (agent/inbound.py keeps it to our own prefix).
For every message on it, in this order:

1. The command name (the last topic level) must be on the allow-list
   (agent/remote/handlers.py ``COMMANDS``), else the reply is ``unknown_command``.
2. The payload must be one JSON object (empty means ``{}``) of at most
   :data:`MAX_PAYLOAD` bytes that validates against the command's request model, else
   ``malformed`` with the schema's messages (never the offending values).
3. The handler runs, bounded by the command's timeout; :class:`CommandError` becomes the
   reply's error; any other exception is a bug, logged once per command and error type and
   answered with ``internal``; nothing reaches the forwarder.
4. The reply (agent/remote/models.py ``CommandReply``) goes to the request's response
   topic with its correlation data. A response topic outside ``edge/{gateway_id}/`` or under
   our own ``cmd/`` is not answered (the gateway would be publishing where the platform
   decided, or to itself); the command is still recorded.
5. One ``gateway.command`` event (data: :class:`CommandEventData`) goes into the outbox,
   and one INFO log line: name, outcome, requester. No request field other than these
   reaches either, so a secret in a request is never logged.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from agent.driver import EventSink
from agent.events import Event, Priority, Severity
from agent.inbound import Inbound, InboundMessage, Reply
from agent.remote.errors import CommandError
from agent.remote.handlers import COMMANDS, Command, RemoteContext
from agent.remote.models import (
    REQUESTER_PATTERN,
    CommandEventData,
    CommandReply,
    ConfigApplyResult,
    ErrorCode,
    ErrorInfo,
    Outcome,
    Request,
)

log = logging.getLogger(__name__)

MAX_PAYLOAD = 512 * 1024  # a whole config plus margin; anything larger is refused unread
REQUESTER_PROPERTY = "requester"  # the MQTT v5 user property naming who asked
_NAME = re.compile(r"[a-z][a-z0-9._-]{0,63}")
_REQUESTER = re.compile(REQUESTER_PATTERN)


@dataclass
class _Done:
    """What one command came to, for the reply, the event and the log line."""

    name: str
    requester: str | None
    result: dict[str, Any] | None = None
    error: ErrorInfo | None = None
    outcome: Outcome = "ok"


def _requester_property(msg: InboundMessage) -> str | None:
    for key, value in msg.user_properties:
        if key == REQUESTER_PROPERTY and _REQUESTER.fullmatch(value):
            return value
    return None


def _schema_problems(exc: ValidationError) -> list[str]:
    """The schema's complaints as ``path: message``, without the input values."""
    out = []
    for e in exc.errors(include_url=False, include_input=False, include_context=False):
        where = ".".join(str(p) for p in e["loc"]) or "(request)"
        out.append(f"{where}: {e['msg']}")
    return out[:20]


def _parse_body(payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_PAYLOAD:
        raise CommandError("malformed", f"request larger than {MAX_PAYLOAD} bytes")
    if not payload.strip():
        return {}
    try:
        # orjson: bounded nesting (1024) and invalid UTF-8 both end in JSONDecodeError,
        # where the stdlib parser would recurse into a RecursionError on "[[[[...".
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise CommandError("malformed", "the request is not JSON") from None
    if not isinstance(body, dict):
        raise CommandError("malformed", "the request must be a JSON object")
    return body


def parse_request(name: str, payload: bytes) -> tuple[Command, Request]:
    """The allow-listed command ``name`` and its validated request, from untrusted bytes.

    Steps 1 and 2 of the module docstring; the only exception is :class:`CommandError`
    (``unknown_command`` or ``malformed``), whatever the bytes (tests/reliability fuzzes
    this with hypothesis and atheris)."""
    command = COMMANDS.get(name)
    if command is None:
        shown = name if _NAME.fullmatch(name) else "(invalid)"
        raise CommandError("unknown_command", f"no command {shown!r}; known: "
                            + ", ".join(sorted(COMMANDS)))  # fmt: skip
    body = _parse_body(payload)
    try:
        return command, command.request.model_validate(body)
    except ValidationError as exc:
        raise CommandError("malformed", f"the request does not fit {name}",
                            problems=_schema_problems(exc)) from None  # fmt: skip


class RemoteCommands:
    """The command route of one agent (see the module docstring)."""

    def __init__(self, ctx: RemoteContext, sink: EventSink) -> None:
        self._ctx = ctx
        self._sink = sink
        self._prefix = f"edge/{ctx.gateway_id}/"
        self._logged: set[tuple[str, str]] = set()

    def register(self, inbound: Inbound) -> str:
        return inbound.route("cmd/+", self.handle)

    async def handle(self, msg: InboundMessage, reply: Reply) -> None:
        raw = msg.topic.rsplit("/", 1)[-1]
        done = _Done(name=raw if _NAME.fullmatch(raw) else "(invalid)",
                     requester=_requester_property(msg))  # fmt: skip
        try:
            done.result = await self._run(raw, msg, done)
        except CommandError as exc:
            done.outcome = "error" if exc.code in ("failed", "internal") else "rejected"
            done.error = ErrorInfo(code=exc.code, message=exc.message, problems=exc.problems)
            done.result = exc.result.model_dump(mode="json") if exc.result else None
        replied = self._reply(msg, reply, done)
        await self._record(done, replied)

    async def _run(self, name: str, msg: InboundMessage, done: _Done) -> dict[str, Any]:
        command, request = parse_request(name, msg.payload)
        if done.requester is None:
            done.requester = request.requester
        try:
            async with asyncio.timeout(command.timeout_s):
                result = await command.handler(request, self._ctx)
        except CommandError:
            raise
        except TimeoutError:
            raise CommandError(
                "failed", f"{name} did not finish in {command.timeout_s:g} s"
            ) from None
        except Exception as exc:
            self._log_bug(name, exc)
            raise CommandError(
                "internal", f"{name} failed on the gateway: {type(exc).__name__}"
            ) from exc
        return result.model_dump(mode="json")

    def _log_bug(self, name: str, exc: Exception) -> None:
        key = (name, type(exc).__name__)
        if key not in self._logged:
            self._logged.add(key)
            log.error("command %s failed", name, exc_info=exc)
        else:
            log.debug("command %s failed again: %s", name, type(exc).__name__)

    def _reply_topic_ok(self, topic: str | None) -> bool:
        if not topic or any(c in topic for c in "+#\0"):
            return False
        return topic.startswith(self._prefix) and not topic.startswith(self._prefix + "cmd/")

    def _reply(self, msg: InboundMessage, reply: Reply, done: _Done) -> bool:
        if not self._reply_topic_ok(msg.response_topic):
            if msg.response_topic:
                log.warning("command %s: response topic outside edge/%s/ (or under cmd/) "
                            "not answered", done.name, self._ctx.gateway_id)  # fmt: skip
            return False
        assert msg.response_topic is not None
        doc = CommandReply(
            command=done.name,
            gateway=self._ctx.gateway_id,
            ok=done.error is None,
            result=done.result,
            error=done.error,
        )
        reply(msg.response_topic, orjson.dumps(doc.model_dump(mode="json")), msg.correlation_data)
        return True

    async def _record(self, done: _Done, replied: bool) -> None:
        code: ErrorCode | None = done.error.code if done.error else None
        log.info("command %s from %s: %s%s", done.name, done.requester or "(no requester)",
                 done.outcome, f" ({code})" if code else "")  # fmt: skip
        sha = None
        if done.name == "config.apply" and done.result is not None:
            sha = ConfigApplyResult.model_validate(done.result).sha256
        data = CommandEventData(command=done.name, outcome=done.outcome, requester=done.requester,
                                error=code, replied=replied, config_sha256=sha)  # fmt: skip
        event = Event(
            type="gateway.command",
            subject=f"command:{done.name}",
            data=data.model_dump(mode="json"),
            priority=Priority.EVENT,
            severity=Severity.INFO if done.outcome == "ok" else Severity.WARNING,
            source=f"/edge/{self._ctx.gateway_id}/remote",
        )
        try:
            await self._sink.emit(event)
        except Exception as exc:
            log.error("could not record command %s: %s", done.name, exc)
