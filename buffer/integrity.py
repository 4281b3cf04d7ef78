"""Noticing damage SQLite itself cannot: lost committed events, corrupted rows.

* Per-row checksum (CRC-32 of topic and payload, ``outbox.crc``): verified before a row
  is handed to the forwarder, so a row damaged on disk (a bit flip in the ``-wal`` with
  an intact ``-shm``, which SQLite then trusts) is dead-lettered with its reason, never
  published. Rows from before schema v3 carry no checksum and are not judged.
* The seq high-water mark (:mod:`buffer.seqmark`): a database whose seq counter is below
  the mark lost committed events; the counter is moved up to the mark so no seq number
  is ever issued twice, and the lost range is reported.

Issue 9 item 4; docs/operations.md "WAL damage".
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import zlib

from buffer.seqmark import SeqMark

log = logging.getLogger(__name__)

CHECKSUM_REASON = "checksum mismatch: row damaged on disk, not forwarded"


@functools.lru_cache(maxsize=256)
def topic_crc(topic: str) -> int:
    """CRC-32 of ``topic`` alone, the seed of its rows' checksums: an outbox has a few
    dozen event topics, so the append path computes each once (attachment topics, one
    per event, pass through ``row_crc`` uncached)."""
    return zlib.crc32(topic.encode())


def row_crc(topic: str, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(topic.encode()))


def row_is_intact(topic: str, payload: bytes, crc: int | None) -> bool:
    return crc is None or row_crc(topic, payload) == crc


def db_last_seq(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key='seq'").fetchone()
    return int(row[0]) if row else 0


def reconcile_seq(conn: sqlite3.Connection, mark: SeqMark) -> tuple[int, int] | None:
    """Lift the database's seq counter to the mark; return the lost range, if any."""
    last = db_last_seq(conn)
    if mark.value <= last:
        mark.advance(last)
        return None
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('seq', ?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (mark.value,),
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    log.error(
        "buffer lost committed events seq %d..%d (the WAL or the file was damaged); "
        "seq continues at %d",
        last + 1,
        mark.value,
        mark.value + 1,
    )
    return last + 1, mark.value
