"""Config validation: every error points at FILE:LINE and the key path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.cli import main
from agent.config import ConfigError, load_config, parse_config

MINIMAL = """\
gateway: {id: gw-0001, site: linfen-rd}
mqtt: {host: 127.0.0.1, port: 1883, insecure: true}
buffer: {path: /var/lib/edge-agent/buffer.db}
drivers:
  - {name: synth, kind: synthetic, count: 5000, rate_hz: 500, priority: event}
"""


def issues(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "site.yaml")
    return [str(i) for i in err.value.issues]


def test_minimal_shape_from_the_issue_is_valid() -> None:
    cfg = parse_config(MINIMAL)
    assert cfg.gateway.id == "gw-0001"
    assert cfg.drivers[0].kind == "synthetic"


def test_unknown_key_points_at_its_line_with_did_you_mean() -> None:
    text = (
        MINIMAL
        + """\
  - name: lift
    kind: synthetic
    rate_hz: 5
    cuont: 10
"""
    )
    assert issues(text) == ["site.yaml:9 drivers[1].cuont: unknown key (did you mean 'count'?)"]


def test_bad_value_points_at_the_key_line() -> None:
    text = MINIMAL.replace("rate_hz: 500", "rate_hz: -5")
    assert issues(text) == ["site.yaml:5 drivers[0].rate_hz: Input should be greater than 0"]


def test_nested_section_typo() -> None:
    text = MINIMAL.replace(
        "buffer: {path: /var/lib/edge-agent/buffer.db}", "buffer:\n  path: /x.db\n  max_byte: 10"
    )
    assert issues(text) == ["site.yaml:5 buffer.max_byte: unknown key (did you mean 'max_bytes'?)"]


def test_unknown_kind_lists_known_kinds() -> None:
    text = MINIMAL.replace("kind: synthetic", "kind: synthetik")
    (msg,) = issues(text)
    assert msg.startswith("site.yaml:5 drivers[0].kind: unknown driver kind 'synthetik'")
    assert "synthetic" in msg


def test_plaintext_is_refused_unless_insecure_is_explicit() -> None:
    text = MINIMAL.replace(", insecure: true", "")
    assert issues(text) == [
        "site.yaml:2 mqtt: plaintext MQTT refused: configure tls: {ca, cert, key} "
        "or set insecure: true explicitly"
    ]


def test_duplicate_driver_names() -> None:
    text = MINIMAL + "  - {name: synth, kind: synthetic}\n"
    # Points at the second use, where the installer has to change something.
    assert issues(text) == ["site.yaml:6 drivers[1].name: driver name 'synth' is used twice"]


def test_key_given_twice_is_refused_not_silently_overridden() -> None:
    text = MINIMAL.replace(
        "mqtt: {host: 127.0.0.1, port: 1883, insecure: true}",
        "mqtt:\n  host: 127.0.0.1\n  insecure: true\n  host: 10.0.0.9",
    )
    assert issues(text) == [
        "site.yaml:5 mqtt.host: key given twice (first on line 3); remove one of them"
    ]


def test_did_you_mean_inside_a_list_of_a_driver() -> None:
    text = """\
gateway: {id: gw-1}
mqtt: {host: 127.0.0.1, insecure: true}
buffer: {path: /tmp/b.db}
drivers:
  - name: cam
    kind: camera
    source: /tmp/clip.avi
    model: {path: /tmp/m.onnx, sha256: "%s"}
    zones:
      - id: hall
        kind: corridor
        polygon: [[0, 0], [1, 0], [1, 1]]
        grace_sec: 10
""" % ("0" * 64)
    assert issues(text) == [
        "site.yaml:13 drivers[0].zones[0].grace_sec: unknown key (did you mean 'grace_s'?)"
    ]


def test_unreadable_file_has_no_line_number(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "missing.yaml")
    assert str(err.value) == f"{tmp_path / 'missing.yaml'}: cannot read: No such file or directory"


def test_yaml_syntax_error_has_a_line() -> None:
    (msg,) = issues(MINIMAL + "  - {name: [oops\n")
    assert msg.startswith("site.yaml:") and "YAML syntax error" in msg


def _tls_config(tmp_path: Path, key_mode: int) -> Path:
    for name in ("ca.crt", "gw.crt", "gw.key"):
        (tmp_path / name).write_text("x")
    os.chmod(tmp_path / "gw.key", key_mode)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "gateway: {id: gw-1}\n"
        "mqtt:\n"
        "  host: broker.example\n"
        "  tls:\n"
        f"    ca: {tmp_path / 'ca.crt'}\n"
        f"    cert: {tmp_path / 'gw.crt'}\n"
        f"    key: {tmp_path / 'gw.key'}\n"
        f"buffer: {{path: {tmp_path / 'b.db'}}}\n"
    )
    return cfg


def test_group_readable_key_is_refused(tmp_path: Path) -> None:
    cfg = _tls_config(tmp_path, 0o640)
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    (issue,) = err.value.issues
    assert issue.line == 7 and issue.path == "mqtt.tls.key"
    assert "accessible by group/others (mode 0640)" in issue.message


def test_private_key_0600_is_accepted(tmp_path: Path) -> None:
    cfg = _tls_config(tmp_path, 0o600)
    assert load_config(cfg).config.mqtt.effective_port == 8883


def test_cli_config_check_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(MINIMAL)
    assert main(["config", "check", str(good)]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL.replace("count: 5000", "count: -1"))
    assert main(["config", "check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:5 drivers[0].count: Input should be greater than or equal to 0" in err


def test_shipped_example_configs_are_valid() -> None:
    root = Path(__file__).resolve().parents[2]
    for path in [root / "deploy" / "config.example.yaml"]:
        load_config(path, check_files=False)
