"""Hostile input from the platform side: remote-command requests and alarm receipts.

anchors-reliability.md §6.5, issue 16. What arrives on ``edge/{id}/cmd/+`` and
``edge/{id}/receipts`` is written by whoever can publish there; the parsers must answer
every payload with their own error (``CommandError`` for a request, pydantic's
``ValidationError`` for a receipt, counted as malformed) and nothing else. Requests are
parsed as agent/remote/service.py does, and a refusal is built into the reply and audit
event it causes (fuzz_targets.py); receipts go through the real route (agent/inbound.py
dispatch to agent/receipts.py) into a real outbox holding an open alarm receipt, so an
id that matches reaches the database too. fuzz_atheris.py runs the same parsers
coverage-guided (``remote``, ``receipt``).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from agent.escalation_config import ReceiptsConfig
from agent.events import Event, Priority, Severity
from agent.inbound import Inbound, InboundMessage
from agent.receipts import Receipts, receipt_policy
from buffer.config import BufferConfig
from buffer.outbox import Outbox
from tests.reliability.figures import record
from tests.reliability.fuzz_atheris import one_remote
from tests.reliability.fuzz_targets import COMMAND_NAMES, receipt_payload, remote_request

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Every field a request or a receipt knows, and a few it does not.
_FIELDS = ["requester", "config", "drivers", "health_s", "driver", "lines", "level", "camera",
           "max_width", "max_bytes", "id", "stage", "by", "kind", "name", ""]  # fmt: skip
_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(["stored", "acknowledged", "DEBUG", "ERROR", "ping", "op-1", "a" * 65]),
)
_json = st.recursive(
    _scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(_FIELDS), inner, max_size=6)
    ),
    max_leaves=25,
)
_names = st.one_of(st.sampled_from(COMMAND_NAMES), st.text(max_size=20))


def _doc(value: Any) -> bytes:
    return json.dumps(value).encode()


@FUZZ
@given(name=_names, payload=st.binary(max_size=600))
def test_random_bytes_as_any_command_are_a_request_or_a_command_error(
    name: str, payload: bytes
) -> None:
    remote_request(name, payload)


@FUZZ
@given(name=st.sampled_from(COMMAND_NAMES), doc=_json)
def test_json_documents_as_any_command_are_a_request_or_a_command_error(
    name: str, doc: Any
) -> None:
    remote_request(name, _doc(doc))


@FUZZ
@given(name=st.sampled_from(COMMAND_NAMES), depth=st.integers(1, 1500), inner=_scalar)
def test_deeply_nested_requests_are_a_command_error(name: str, depth: int, inner: Any) -> None:
    # Past orjson's 1024 levels, and past the request model's own drivers depth.
    remote_request(name, b'{"drivers": [' + b"[" * depth + _doc(inner) + b"]" * depth + b"]}")
    remote_request(name, b'{"config": ' + b"[" * depth + b"]" * depth + b"}")


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes_through_the_atheris_targets(data: bytes) -> None:
    one_remote(data)
    receipt_payload(data)


def test_hostile_receipts_through_the_route_into_a_real_outbox(tmp_path: Path) -> None:
    config = ReceiptsConfig.model_validate({"classes": [{"type": "resident.*"}]})
    loop = asyncio.new_event_loop()
    outbox = Outbox(BufferConfig(path=tmp_path / "o.db"), source="/t",
                    receipt_policy=receipt_policy(config))  # fmt: skip
    alarm = Event("resident.alarm", "dev-1", {"key": "SOS"}, Priority.ALARM, Severity.CRITICAL)
    loop.run_until_complete(outbox.open())
    loop.run_until_complete(outbox.append([alarm]))
    receipts = Receipts(config, outbox)
    inbound = Inbound("gw-0001")
    inbound.route("receipts", receipts.handle)
    # Weighted towards what reaches the database: the real id, on our receipts topic.
    ids = st.sampled_from([alarm.id, alarm.id, alarm.id, alarm.id.upper(), "", "x" * 65])
    receipt_docs = st.fixed_dictionaries(
        {"id": st.one_of(ids, _scalar)},
        optional={"stage": st.one_of(st.sampled_from(["stored", "acknowledged"]), _scalar),
                  "by": _scalar, "extra": _json},
    ).map(_doc)  # fmt: skip
    elsewhere = st.one_of(
        st.sampled_from(["edge/gw-other/receipts", "edge/gw-0001/receipts/x", "receipts", ""]),
        st.text(max_size=30),
    )
    # Three in four on our receipts topic, the rest on near misses and random topics.
    topics = st.tuples(st.integers(0, 3), elsewhere).map(
        lambda t: t[1] if t[0] == 0 else "edge/gw-0001/receipts"
    )
    payloads = st.one_of(receipt_docs, st.binary(max_size=300), _json.map(_doc))
    payloads = st.tuples(st.booleans(), receipt_docs, payloads).map(
        lambda t: t[1] if t[0] else t[2]
    )

    @FUZZ
    @given(
        topic=topics,
        payload=payloads,
    )
    @example(topic="edge/gw-0001/receipts", payload=_doc({"id": alarm.id, "stage": "stored"}))
    @example(topic="edge/gw-0001/receipts", payload=_doc({"id": alarm.id, "stage": "stored"}))
    @example(topic="edge/gw-0001/receipts", payload=b"[" * 5000)
    @example(topic="edge/gw-0001/receipts", payload=b'{"id": "\\ud800", "stage": "stored"}')
    def one(topic: str, payload: bytes) -> None:
        failed = inbound.stats.failed

        async def deliver() -> None:
            inbound.dispatch(InboundMessage(topic, payload), lambda *a: None)
            await inbound.idle()

        loop.run_until_complete(deliver())
        # The handler counts a bad receipt as malformed; any exception is a crasher.
        assert inbound.stats.failed == failed, f"receipt handler raised on {payload!r}"

    try:
        one()
        c = receipts.counts
        st_ = inbound.stats
        record("fuzz_receipts", received=st_.received, ignored=st_.ignored, failed=st_.failed,
               applied=c.applied, duplicate=c.duplicate, unknown=c.unknown,
               malformed=c.malformed)  # fmt: skip
        assert c.malformed > 0 and (c.applied + c.duplicate) > 0, c
    finally:
        loop.run_until_complete(outbox.close())
        loop.close()
