"""Room to recover on a full disk: a reserve file, the WAL's size, the page cap.

On a really full disk every way out of it needs a little space: shedding is a DELETE,
and a DELETE in WAL mode appends frames to the ``-wal``. So the outbox keeps a small
preallocated reserve file beside the database and, on SQLITE_FULL, (1) checkpoints and
truncates the WAL, (2) releases the reserve, (3) caps the database at the pages it has
now (the disk just told us its size, so from then on SQLite refuses growth itself,
before the disk does, and freed pages are reused), then sheds. The reserve is restored
once the disk has room again.

A WAL that can grow to megabytes cannot be checkpointed on a full disk (the main file
must grow first), so whenever space is short (less than ``LOW_SPACE`` free, a
``max_file_bytes`` cap, or after a full disk) the WAL is kept small (``WAL_LIMIT``,
counted in ``max_file_bytes``); with room to spare it may reach ``ROOMY_WAL`` (fewer
checkpoints, each costing two fsyncs). Issue 9 item 1; docs/operations.md "Faults".
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import time
from pathlib import Path

log = logging.getLogger(__name__)

WAL_LIMIT = 256 * 1024  # while space is short: checkpoint at, and truncate back to, this
ROOMY_WAL = 4 * 1024 * 1024  # with room to spare (SQLite's default checkpoint is ~4 MB)
LOW_SPACE = 64 * 1024 * 1024  # free bytes below which the WAL is kept small
# A checkpoint that cannot grow the main file fails (silently, at commit) and the WAL
# grows on: by the time the disk is full it holds up to twice WAL_LIMIT of pages the
# main file must make room for. The reserve covers that, with a margin for shedding.
RESERVE_BYTES = 2 * WAL_LIMIT + 128 * 1024
_CHECK_EVERY_S = 5.0


def wal_limit(max_file_bytes: int | None) -> int:
    """The WAL size a new connection starts with (DiskSpace adjusts it later)."""
    return ROOMY_WAL if max_file_bytes is None else min(WAL_LIMIT, max_file_bytes // 4)


def page_cap(max_file_bytes: int, page_size: int) -> int:
    """``max_page_count`` for a file cap that includes the -wal."""
    return max(16, (max_file_bytes - wal_limit(max_file_bytes)) // page_size)


def set_wal_limit(conn: sqlite3.Connection, limit: int) -> None:
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.execute(f"PRAGMA journal_size_limit={limit}")
    conn.execute(f"PRAGMA wal_autocheckpoint={max(16, limit // page)}")


class DiskSpace:
    """The reserve file, the WAL's size, and the recovery steps after SQLITE_FULL."""

    def __init__(self, db_path: Path, conn: sqlite3.Connection, *, capped: bool) -> None:
        self.path = db_path.with_name(db_path.name + "-reserve")
        self._conn = conn
        self._last_check = 0.0
        self.present = self.path.exists()
        self.capped = capped  # a max_file_bytes cap, or a full disk seen: WAL kept small
        self._tight: bool | None = None
        self.housekeep(force=True)

    def housekeep(self, *, force: bool = False) -> None:
        """At most every few seconds: size the WAL to the free space; restore the reserve."""
        now = time.monotonic()
        if not force and now - self._last_check < _CHECK_EVERY_S:
            return
        self._last_check = now
        try:
            free = shutil.disk_usage(self.path.parent).free
        except OSError:
            return
        tight = self.capped or free < LOW_SPACE
        if tight != self._tight:
            self._tight = tight
            set_wal_limit(self._conn, WAL_LIMIT if tight else ROOMY_WAL)
        if not self.present and free >= RESERVE_BYTES + 2 * WAL_LIMIT:
            self._restore()

    def _restore(self) -> None:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.posix_fallocate(fd, 0, RESERVE_BYTES)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            log.debug("buffer reserve not created: %s", exc)
            self.path.unlink(missing_ok=True)
            return
        self.present = True
        log.info("buffer disk reserve restored (%d bytes)", RESERVE_BYTES)

    def relieve(self, conn: sqlite3.Connection) -> None:
        """Make room for shedding after SQLITE_FULL (see the module docstring)."""
        if self.present:
            self.path.unlink(missing_ok=True)
            self.present = False
            self._last_check = time.monotonic()
            log.warning("buffer disk full: released the %d byte reserve", RESERVE_BYTES)
        # The checkpoint moves the WAL's pages into the main file (which may grow into
        # the space just released) and truncates the -wal, freeing its space.
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error as exc:
            log.warning("checkpoint on a full disk failed: %s", exc)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        cap = conn.execute("PRAGMA max_page_count").fetchone()[0]
        if pages < cap:
            conn.execute(f"PRAGMA max_page_count={pages}")
        self.capped = True
        # Checkpoint early from now on, so the WAL is reused within the little room left.
        self._tight = True
        set_wal_limit(conn, 16 * 4096)
