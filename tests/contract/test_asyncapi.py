"""The AsyncAPI document: complete, and valid for the official parser (@asyncapi/parser).

The parser runs under Node from .ci/node_modules (installed by deploy/dev-setup.sh with
``npm ci`` from the committed lock file). Outside CI a machine without it skips the
parser tests with the command to fix it; in CI (``CI=true``) a missing Node or parser
fails them, so CI can never pass without the parser having run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from agent.contract.asyncapi import COMMANDS
from agent.event_types import EVENT_TYPES
from tests.shared_data import REPO

CONTRACT = REPO / "docs" / "contract"
SCRIPT = REPO / ".ci" / "asyncapi-validate.mjs"
PARSER = REPO / ".ci" / "node_modules" / "@asyncapi" / "parser" / "package.json"


def _node() -> str:
    node = shutil.which("node") or shutil.which("nodejs")
    missing = []
    if node is None:
        missing.append("node (Debian: nodejs)")
    if not PARSER.exists():
        missing.append(f"{PARSER.relative_to(REPO)} (npm ci --prefix .ci)")
    if missing:
        message = f"missing {', '.join(missing)}; run: bash deploy/dev-setup.sh"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"the AsyncAPI parser must run in CI: {message}")
        pytest.skip(message)
    assert node is not None
    return node


def _parse(document: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_node(), str(SCRIPT), str(document)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=SCRIPT.parent,
    )


def test_committed_document_passes_the_official_parser() -> None:
    result = _parse(CONTRACT / "asyncapi.json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("asyncapi.json: valid"), result.stdout


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "contract"
    shutil.copytree(CONTRACT, target, ignore=shutil.ignore_patterns("released"))
    return target


def _break_operation(root: Path) -> None:
    path = root / "asyncapi.json"
    doc = json.loads(path.read_text())
    doc["operations"]["sendEvent"]["action"] = "publish"  # AsyncAPI 2 wording: not in 3.0
    path.write_text(json.dumps(doc))


def _break_schema(root: Path) -> None:
    path = root / "data" / "gateway.health.v1.schema.json"
    doc = json.loads(path.read_text())
    doc["properties"]["restarts"]["type"] = "integr"
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize("damage", [_break_operation, _break_schema])
def test_parser_rejects_a_broken_document(tmp_path: Path, damage: Any) -> None:
    root = _copy(tmp_path)
    damage(root)
    result = _parse(root / "asyncapi.json")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "INVALID" in result.stdout and "error" in result.stdout


def _document() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((CONTRACT / "asyncapi.json").read_text())
    return doc


def test_every_channel_is_described() -> None:
    channels = _document()["channels"]
    assert {name: channels[name]["address"] for name in channels} == {
        "events": "edge/{gateway_id}/events/{category}",
        "telemetry": "edge/{gateway_id}/telemetry/{category}",
        "snapshots": "edge/{gateway_id}/snapshots/{event_id}/{n}",
        "status": "edge/{gateway_id}/status",
        "receipts": "edge/{gateway_id}/receipts",
        "commands": "edge/{gateway_id}/cmd/{name}",
        "commandReplies": None,
    }
    assert channels["commands"]["parameters"]["name"]["enum"] == list(COMMANDS)


def test_every_event_type_has_a_message_on_its_channels() -> None:
    doc = _document()
    for event_type, entry in EVENT_TYPES.items():
        message = doc["components"]["messages"][event_type]
        pinned = message["payload"]["schema"]["allOf"][1]["properties"]
        assert pinned["type"] == {"const": event_type}
        assert pinned["data"]["$ref"] == f"./data/{event_type}.v{entry.version}.schema.json"
        for channel in ("events", "telemetry"):
            listed = event_type in doc["channels"][channel]["messages"]
            assert listed == (channel in entry.channels), (event_type, channel)


def test_commands_reply_on_the_response_topic_with_the_correlation_data() -> None:
    doc = _document()
    operation = doc["operations"]["receiveCommand"]
    assert operation["action"] == "receive"
    assert operation["reply"]["address"] == {"location": "$message.header#/responseTopic"}
    request = doc["components"]["messages"]["commandRequest"]
    assert request["correlationId"] == {"location": "$message.header#/correlationData"}
    assert set(request["bindings"]["mqtt"]) >= {"responseTopic", "correlationData"}
    assert doc["operations"]["sendStatus"]["bindings"]["mqtt"]["retain"] is True


def test_receipts_are_id_stage_and_by() -> None:
    receipt = json.loads((CONTRACT / "payloads" / "receipt.v1.schema.json").read_text())
    assert receipt["required"] == ["id", "stage", "by"]
    assert receipt["properties"]["stage"]["enum"] == ["stored", "acknowledged"]
