"""Real WAL damage on a real file after a SIGKILL (issue 9 item 4).

A child process commits 500 alarms that live only in the ``-wal`` (checkpoints off),
then is killed. The WAL or the file is damaged as storage faults and operators do it;
reopening must report the lost seq range as an alarm, never reuse a seq number, and
never forward a row that is not what was committed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.events import Event, Priority
from buffer.config import BufferConfig
from buffer.store import OutboxStore
from tests.shared_data import REPO

_CHILD = """
import sys, time
from pathlib import Path
from agent.events import Event, Priority
from buffer.config import BufferConfig
from buffer.store import OutboxStore
s = OutboxStore(BufferConfig(path=Path(sys.argv[1])), source="/edge/test/buffer")
s.conn.execute("PRAGMA wal_autocheckpoint=0")  # keep the commits in the -wal only
for i in range(500):
    s.append([Event(type="test.sample", subject="d", data={"n": i, "mark": "MARK%05d" % i},
                    priority=Priority.ALARM)])
print("committed", flush=True)
time.sleep(60)
"""


def _commit_then_kill(path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == b"committed"
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert (path.with_name(path.name + "-wal")).stat().st_size > 0


def _overwrite_wal_header(p: Path) -> None:
    wal = p.with_name(p.name + "-wal")
    data = bytearray(wal.read_bytes())
    data[:32] = b"\xa5" * 32
    wal.write_bytes(bytes(data))


def _delete_wal(p: Path) -> None:
    p.with_name(p.name + "-wal").unlink()
    p.with_name(p.name + "-shm").unlink(missing_ok=True)


def _truncate_main(p: Path) -> None:
    p.write_bytes(b"")
    _delete_wal(p)


def _truncate_wal_half(p: Path) -> None:
    wal = p.with_name(p.name + "-wal")
    with wal.open("r+b") as f:
        f.truncate(wal.stat().st_size // 2)


def _payloads(s: OutboxStore) -> list[dict]:
    return [json.loads(r.payload) for r in s.pending(10_000) if r.part == 0]


@pytest.mark.parametrize(
    "damage", [_overwrite_wal_header, _delete_wal, _truncate_main, _truncate_wal_half]
)
def test_lost_wal_is_reported_and_seq_never_reused(
    tmp_path: Path, damage: Callable[[Path], None]
) -> None:
    path = tmp_path / "b.db"
    _commit_then_kill(path)
    damage(path)
    s = OutboxStore(BufferConfig(path=path), source="/edge/test/buffer")
    try:
        events = _payloads(s)
        kept = {e["data"]["n"] for e in events if e["type"] == "test.sample"}
        lost = [e for e in events if e["type"] == "gateway.buffer.lost"]
        assert len(kept) < 500  # the damage really lost something
        assert len(lost) == 1 and lost[0]["priority"] == "alarm", [e["type"] for e in events]
        assert lost[0]["data"]["last_seq"] == 500
        assert lost[0]["data"]["first_seq"] == len(kept) + 1
        new = s.append([Event(type="t.x", subject="d", data={})])
        assert new[0] > 500, "a seq number already issued was reused"
    finally:
        s.close()


def test_bit_flips_in_the_wal_are_never_forwarded(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    _commit_then_kill(path)
    wal = path.with_name(path.name + "-wal")
    data = bytearray(wal.read_bytes())
    for i in range(100, 500, 50):  # flip one byte inside ten payloads; -shm left intact
        at = data.find(b"MARK%05d" % i)
        assert at > 0
        data[at + 2] ^= 0x5A
    wal.write_bytes(bytes(data))
    s = OutboxStore(BufferConfig(path=path), source="/edge/test/buffer")
    try:
        rows = s.pending(10_000)
        for r in rows:
            doc = json.loads(r.payload)  # never a non-JSON payload
            if doc["type"] == "test.sample":
                assert doc["data"]["mark"] == f"MARK{doc['data']['n']:05d}", "damaged row"
        types = [json.loads(r.payload)["type"] for r in rows]
        # Either SQLite dropped the damaged frames (a loss, reported) or our checksum
        # caught the rows (dead-lettered, reported): never silence.
        assert "gateway.buffer.damaged" in types or "gateway.buffer.lost" in types, types
        if "gateway.buffer.damaged" in types:
            assert s.stats().dead >= 1
            assert all("checksum" in d[3] for d in s.dead_letters())
        assert all(r.priority == Priority.ALARM for r in rows)
    finally:
        s.close()
