"""Power cut of the outbox: freeze a writer at random instants, copy DB + WAL, reopen.

anchors-reliability.md §3.3 (SQLite's crash testing) at application level: a child
process appends as fast as it can; at a random instant the parent stops it with SIGSTOP
(so the files are caught mid-write, between two syscalls of a commit or a checkpoint),
reads how many events had been acknowledged to the producer, copies the database, its
``-wal`` and the seq mark exactly as they are, and lets the child run on. Every copy is
then opened as the agent would open it after the power came back: no quarantine,
``PRAGMA integrity_check`` ok, every acknowledged event present, and the next seq
higher than any seq already handed out (no reuse).

This is the state the page cache holds at the instant: what a SIGKILL leaves, and what
a power cut leaves when the writes were synced (``synchronous=FULL``, the default).
Unsynced write reordering by the disk itself is not simulated (no custom VFS).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from agent.events import Event
from buffer.config import BufferConfig
from buffer.store import OutboxStore
from tests.reliability.figures import record
from tests.shared_data import REPO

CUTS = 40
COUNT = 1_000_000  # the writer is stopped by the test long before


def _acked(db: Path) -> int:
    try:
        return int((db.parent / (db.name + ".acked")).read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def _snapshot(db: Path, dest: Path) -> None:
    dest.mkdir()
    for suffix in ("", "-wal", "-seq"):
        src = db.parent / (db.name + suffix)
        if src.exists():
            shutil.copyfile(src, dest / (db.name + suffix))


def _check_copy(copy: Path, acked: int) -> tuple[int, int]:
    """(events found, seq of a fresh append) after reopening ``copy``."""
    with sqlite3.connect(copy) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store = OutboxStore(BufferConfig(path=copy), source="/edge/test/powercut")
    try:
        assert store.quarantined is None
        ns: set[int] = set()
        max_seq = 0
        for payload, seq in store.conn.execute("SELECT payload, seq FROM outbox WHERE part=0"):
            doc = json.loads(payload)
            max_seq = max(max_seq, seq)
            if doc["type"] == "test.sample":
                ns.add(int(doc["data"]["n"]))
            else:
                # A report of lost seq numbers would mean the mark ran ahead of the data.
                raise AssertionError(f"unexpected internal event {doc['type']}")
        missing = set(range(acked)) - ns
        assert not missing, f"acknowledged but missing: {sorted(missing)[:10]}"
        fresh = store.append([Event(type="test.after", subject="dev-1", data={})])[0]
        assert fresh > max_seq, "seq reused after the cut"
        return len(ns), fresh
    finally:
        store.close()


def test_copies_taken_at_random_instants_hold_every_acknowledged_event(tmp_path: Path) -> None:
    db = tmp_path / "live" / "b.db"
    db.parent.mkdir()
    child = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("powercut_writer.py")), str(db), str(COUNT)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    rng = random.Random(20261201)
    cuts: list[tuple[Path, int]] = []
    try:
        deadline = time.monotonic() + 30
        while _acked(db) == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        for i in range(CUTS):
            time.sleep(rng.uniform(0.0, 0.08))
            child.send_signal(signal.SIGSTOP)
            try:
                acked = _acked(db)  # read before the copy: all of these must be in it
                _snapshot(db, tmp_path / f"cut{i:02d}")
            finally:
                child.send_signal(signal.SIGCONT)
            cuts.append((tmp_path / f"cut{i:02d}" / "b.db", acked))
        assert child.poll() is None, "the writer died"
    finally:
        child.kill()
        child.wait()
    acked_total = 0
    found_total = 0
    for copy, acked in cuts:
        found, _ = _check_copy(copy, acked)
        assert found >= acked
        acked_total += acked
        found_total += found
    assert cuts[-1][1] > cuts[0][1], "the writer made no progress between cuts"
    record(
        "power_cut",
        cuts=len(cuts),
        events_acked_at_last_cut=cuts[-1][1],
        acked_summed_over_cuts=acked_total,
        found_summed_over_cuts=found_total,
        lost=0,
    )
