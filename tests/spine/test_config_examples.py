"""The shipped example config and every YAML snippet in the docs pass ``config check``.

An installer assembles a config from ``deploy/config.example.yaml`` and the docs pages;
a snippet that fails ``config check`` sends them hunting (issue 11 finding 5). Which
fenced ``yaml`` blocks of README.md and docs/*.md are checked, by this rule:

* a mapping with a ``gateway`` key is a **full config**: checked as it is;
* a mapping whose only key is ``drivers`` is a **drivers section**: checked inside the
  example's ``gateway``/``mqtt``/``buffer`` sections;
* a mapping of top-level sections only (``mqtt``, ``health``, ``remote``, ``console``,
  ``receipts``, …) is checked in place of the example's same sections;
* a mapping with ``points`` is a **Modbus profile**: loaded with ``edge-agent modbus
  profiles``, and written where the snippets refer to ``/etc/edge-agent/profiles/*.yaml``;
* anything else is a **fragment** of one entry (a camera's ``model:`` block). Fragments
  are not checked alone; each must be listed in ``FRAGMENTS`` below with where it belongs,
  so a new snippet cannot be skipped silently.

Absolute paths under ``/etc/edge-agent`` and ``/var/lib/edge-agent`` are moved into a
temporary tree holding what an installed gateway has there: TLS files (key mode 0600),
the YOLOX-Nano model from ``EDGE_AGENT_SHARED`` and the profile snippets.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.cli import main
from tests.shared_data import REPO, shared_path

EXAMPLE = REPO / "deploy" / "config.example.yaml"
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```yaml\n(.*?)^```", re.M | re.S)
# Top-level sections a snippet may show on their own (checked over the example's).
SECTIONS = {"mqtt", "buffer", "supervisor", "health", "remote", "console", "receipts"}
# (file, first line of the block): where the fragment belongs.
FRAGMENTS = {
    ("docs/vision-detector.md", "model:"): "the model: key of a camera entry",
    ("docs/modbus.md", "- name: lobby-relays"): "a drivers entry (a bus with outputs only)",
    ("docs/escalation.md", "receipts:"): "needs a driver that declares the siren output",
}


def _blocks() -> list[tuple[str, str]]:
    out = []
    for doc in DOCS:
        for m in FENCE.finditer(doc.read_text()):
            out.append((str(doc.relative_to(REPO)), m.group(1)))
    return out


def _classify(text: str) -> str:
    data = yaml.safe_load(text)
    if isinstance(data, dict) and "gateway" in data:
        return "config"
    if isinstance(data, dict) and set(data) == {"drivers"}:
        return "drivers"
    if isinstance(data, dict) and data and set(data) <= SECTIONS:
        return "sections"
    if isinstance(data, dict) and "points" in data:
        return "profile"
    return "fragment"


def _sandboxed(text: str, root: Path) -> str:
    for prefix in ("/etc/edge-agent/", "/var/lib/edge-agent/"):
        text = text.replace(prefix, f"{root}{prefix}")
    return text


@pytest.fixture
def installed(tmp_path: Path) -> Path:
    """What an installed gateway has under /etc/edge-agent and /var/lib/edge-agent."""
    tls = tmp_path / "etc/edge-agent/tls"
    tls.mkdir(parents=True)
    # Both namings the docs use: what `edge-agent provision` installs, and per-gateway.
    for name in ("ca.crt", "client.crt", "client.key", "gw-0001.crt", "gw-0001.key"):
        (tls / name).write_text("-----BEGIN PLACEHOLDER-----\n")
    os.chmod(tls / "client.key", 0o600)
    os.chmod(tls / "gw-0001.key", 0o600)
    models = tmp_path / "var/lib/edge-agent/models"
    models.mkdir(parents=True)
    (models / "yolox_nano.onnx").symlink_to(shared_path() / "models" / "yolox_nano.onnx")
    profiles = tmp_path / "etc/edge-agent/profiles"
    profiles.mkdir(parents=True)
    for _, text in _blocks():
        if _classify(text) == "profile":
            (profiles / "acme-box.yaml").write_text(text)
    return tmp_path


def _check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["config", "check", str(path)])
    out = capsys.readouterr()
    return code, out.out + out.err


def _base(root: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(_sandboxed(EXAMPLE.read_text(), root))
    return doc


def test_example_config_passes_config_check(
    installed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = installed / "config.yaml"
    config.write_text(_sandboxed(EXAMPLE.read_text(), installed))
    code, out = _check(config, capsys)
    assert code == 0, out
    # What issue 11 asks the example to show: two RTU lifts, one TCP box, two cameras.
    drivers = _base(installed)["drivers"]
    lifts = {d.get("transport"): len(d["devices"]) for d in drivers if d["kind"] == "modbus"}
    assert lifts == {"rtu": 2, "tcp": 1}
    zones = [z["kind"] for d in drivers for z in d.get("zones", [])]
    assert "corridor" in zones and "elevator_car" in zones


def test_every_yaml_snippet_in_the_docs_passes(
    installed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checked: list[str] = []
    skipped: set[tuple[str, str]] = set()
    for n, (doc, text) in enumerate(_blocks()):
        first = text.splitlines()[0].strip()
        kind = "fragment" if (doc, first) in FRAGMENTS else _classify(text)
        where = f"{doc} block {n} ({kind})"
        path = installed / f"snippet-{n}.yaml"
        if kind == "fragment":
            skipped.add((doc, first))
            continue
        if kind == "profile":
            path.write_text(text)
            code = main(["modbus", "profiles", str(path)])
            out = capsys.readouterr()
            assert code == 0, f"{where}: {out.out}{out.err}"
            checked.append(where)
            continue
        # The snippet's own text, so that its quoting is what gets checked.
        body = _sandboxed(text, installed)
        if kind == "drivers":
            base = {k: v for k, v in _base(installed).items() if k != "drivers"}
            body = yaml.safe_dump(base, sort_keys=False) + body
        if kind == "sections":
            shown = yaml.safe_load(text)
            base = {k: v for k, v in _base(installed).items() if k not in shown}
            body = yaml.safe_dump(base, sort_keys=False) + body
        path.write_text(body)
        code, out = _check(path, capsys)
        assert code == 0, f"{where}:\n{out}"
        checked.append(where)
    assert skipped == set(FRAGMENTS), f"fragments not listed in FRAGMENTS: {skipped}"
    assert any("modbus.md" in c for c in checked) and any("vision.md" in c for c in checked)


def test_numeric_looking_id_gets_a_hint_to_quote_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "gateway: {id: gw-1}\n"
        "mqtt: {host: 127.0.0.1, insecure: true}\n"
        f"buffer: {{path: {tmp_path}/b.db}}\n"
        "drivers:\n"
        "  - name: lifts\n"
        "    kind: modbus\n"
        "    devices:\n"
        "      - {id: 31101234567890123456, unit_id: 1, profile: gb-monitor-box}\n"
        "      - id: 0012\n"
        "        unit_id: 2\n"
        "        profile: gb-monitor-box\n"
    )
    code, out = _check(config, capsys)
    assert code != 0
    assert "c.yaml:8 drivers[0].devices[0].id:" in out
    assert 'quote it ("31101234567890123456")' in out
    assert "c.yaml:9 drivers[0].devices[1].id:" in out
    assert 'YAML read 0012 as the number 10: quote it ("0012")' in out
