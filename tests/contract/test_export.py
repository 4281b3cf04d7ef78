"""docs/contract/ is what the models generate, and ``edge-agent contract`` writes it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli import main
from agent.contract.export import export, render, stale
from tests.shared_data import REPO

CONTRACT = REPO / "docs" / "contract"


def test_committed_contract_is_what_the_models_generate() -> None:
    problems = stale(CONTRACT)
    assert not problems, (
        "docs/contract is stale; run: edge-agent contract export docs/contract\n  "
        + "\n  ".join(problems)
    )


def test_export_is_deterministic_and_prunes_what_is_no_longer_generated(tmp_path: Path) -> None:
    assert render() == render()
    (tmp_path / "data").mkdir()
    gone = tmp_path / "data" / "elevator.retired.v1.schema.json"
    gone.write_text("{}")
    kept = tmp_path / "released" / "cloudevent.v1.schema.json"
    kept.parent.mkdir()
    kept.write_text("{}")
    export(tmp_path)
    assert not gone.exists() and kept.exists()
    assert stale(tmp_path) == []
    (tmp_path / "data" / "gateway.health.v1.schema.json").write_text("{}\n")
    assert stale(tmp_path) == ["data/gateway.health.v1.schema.json: differs from the models"]


def test_cli_export_then_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "contract"
    assert main(["contract", "export", str(out)]) == 0
    assert "wrote" in capsys.readouterr().err
    doc = json.loads((out / "asyncapi.json").read_text())
    assert doc["asyncapi"] == "3.0.0"
    # No released baseline yet: check says so and fails.
    assert main(["contract", "check", str(out)]) == 1
    assert "no released baseline" in capsys.readouterr().out
    assert main(["contract", "export", str(out / "released")]) == 0
    assert main(["contract", "check", str(out)]) == 0


def test_cli_check_of_the_repository_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["contract", "check", str(CONTRACT)]) == 0, capsys.readouterr().out
