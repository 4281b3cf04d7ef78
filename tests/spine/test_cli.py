"""CLI conventions: --config everywhere, exit codes, tables by default and --json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli import build_parser, main

CONFIG = """\
gateway: {id: gw-1}
mqtt: {host: 127.0.0.1, insecure: true}
buffer: {path: %s}
drivers:
  - {name: s, kind: synthetic, count: 3}
"""


def _outbox(tmp: Path) -> Path:
    """A real outbox file with three pending events, written by the agent's own Outbox."""
    import asyncio

    from agent.events import Event
    from buffer.config import BufferConfig
    from buffer.outbox import Outbox

    db = tmp / "buffer.db"

    async def go() -> None:
        box = Outbox(BufferConfig(path=db), source="/edge/gw-1/buffer")
        await box.open()
        try:
            await box.append(
                [Event(type="synthetic.sample", subject="s", data={"n": i}) for i in range(3)]
            )
        finally:
            await box.close()

    asyncio.run(go())
    return db


def test_buffer_stats_table_json_and_db(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = _outbox(tmp_path)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG % db)
    assert main(["buffer", "stats", "--config", str(cfg)]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split() == ["key", "value"]
    assert any(line.split() == ["pending", "3"] for line in table.splitlines())
    assert main(["buffer", "stats", "--json", "--db", str(db)]) == 0
    assert json.loads(capsys.readouterr().out)["pending"] == 3


def test_buffer_stats_works_when_the_rest_of_the_config_is_invalid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _outbox(tmp_path)
    cfg = tmp_path / "broken.yaml"
    cfg.write_text((CONFIG % db).replace("kind: synthetic", "kind: nonsense") + "bogus: 1\n")
    assert main(["config", "check", str(cfg)]) == 2
    capsys.readouterr()
    assert main(["buffer", "stats", "--json", "--config", str(cfg)]) == 0
    assert json.loads(capsys.readouterr().out)["pending"] == 3
    # An invalid buffer section itself is a config error, with its key path.
    cfg.write_text((CONFIG % db).replace("buffer: {path:", "buffer: {max_bytes: -1, path:"))
    assert main(["buffer", "stats", "--config", str(cfg)]) == 2
    assert "buffer.max_bytes" in capsys.readouterr().err


def test_config_check_takes_the_file_positionally_or_with_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG % (tmp_path / "b.db"))
    assert main(["config", "check", str(cfg)]) == 0
    assert main(["config", "check", "--config", str(cfg)]) == 0
    assert main(["config", "check", "-c", str(cfg)]) == 0
    assert main(["config", "check"]) == 2
    assert main(["config", "check", str(cfg), "--config", str(cfg)]) == 2


def test_every_command_reading_a_config_spells_it_the_same_way() -> None:
    parser = build_parser()
    for argv in (
        ["run"],
        ["buffer", "stats"],
        ["buffer", "requeue-dead"],
        ["camera", "snapshot", "--camera", "x", "--out", "x.jpg"],
        ["camera", "replay", "clip.mp4"],
    ):
        args = parser.parse_args([*argv, "--config", "x.yaml"])
        assert args.config == "x.yaml", argv
        args = parser.parse_args([*argv, "-c", "x.yaml"])
        assert args.config == "x.yaml", argv


def test_help_names_only_what_exists(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out.lower()
    assert "vital" not in out
    unit = (Path(__file__).resolve().parents[2] / "systemd" / "edge-agent.service").read_text()
    assert "vital" not in unit.lower()
    # One camera group; the old "vision" spelling is an alias of it.
    assert main(["vision", "detect", "--model", "/nonexistent.onnx", "x.jpg"]) == 1


def test_buffer_stats_without_an_outbox_is_a_runtime_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["buffer", "stats", "--db", str(tmp_path / "none.db")]) == 1
    assert "no outbox" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()  # inspecting never creates one


def test_buffer_stats_reads_beside_a_writer_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A crew's inspection next to a running agent: another connection holds the write
    lock, yet stats answers, and the file's bytes are the same afterwards."""
    import hashlib
    import sqlite3

    db = _outbox(tmp_path)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    writer = sqlite3.connect(db)
    writer.execute("BEGIN IMMEDIATE")
    try:
        assert main(["buffer", "stats", "--json", "--db", str(db)]) == 0
        assert json.loads(capsys.readouterr().out)["pending"] == 3
    finally:
        writer.rollback()
        writer.close()
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_buffer_stats_on_a_damaged_file_reports_and_never_moves_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "buffer.db"
    db.write_bytes(b"not a database at all" * 100)
    assert main(["buffer", "stats", "--db", str(db)]) == 1
    assert "cannot read" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["buffer.db"]
    assert db.read_bytes() == b"not a database at all" * 100
