"""Room to recover on a full disk: a reserve file, the WAL's size, the page cap.

On a really full disk every way out of it needs a little space: shedding is a DELETE,
and a DELETE in WAL mode appends frames to the ``-wal``. So the outbox keeps a small
preallocated reserve file beside the database and, on SQLITE_FULL, (1) checkpoints and
truncates the WAL, (2) releases the reserve, (3) caps the database at the pages it has
now (the disk just told us its size, so from then on SQLite refuses growth itself,
before the disk does, and freed pages are reused), then sheds. The reserve is restored
once the disk has room again. The WAL is kept small (``WAL_LIMIT``) and counted in
``max_file_bytes``. Issue 9 item 1; docs/operations.md "Disk full".
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import time
from pathlib import Path

log = logging.getLogger(__name__)

WAL_LIMIT = 256 * 1024  # checkpoint at, and truncate the -wal back to, this size
# A checkpoint that cannot grow the main file fails (silently, at commit) and the WAL
# grows on: by the time the disk is full it holds up to twice WAL_LIMIT of pages the
# main file must make room for. The reserve covers that, with a margin for shedding.
RESERVE_BYTES = 2 * WAL_LIMIT + 128 * 1024
_RESTORE_EVERY_S = 5.0
_TIGHT_CHECKPOINT_PAGES = 16


def wal_limit(max_file_bytes: int | None) -> int:
    return WAL_LIMIT if max_file_bytes is None else min(WAL_LIMIT, max_file_bytes // 4)


def page_cap(max_file_bytes: int, page_size: int) -> int:
    """``max_page_count`` for a file cap that includes the -wal."""
    return max(16, (max_file_bytes - wal_limit(max_file_bytes)) // page_size)


class DiskSpace:
    """The reserve file and the recovery steps run when SQLite reports a full disk."""

    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + "-reserve")
        self._last_try = 0.0
        self.present = self.path.exists()
        self.capped = False
        self.restore(force=True)

    def restore(self, *, force: bool = False) -> None:
        """(Re)create the reserve if it is missing and the disk has room to spare."""
        if self.present:
            return
        now = time.monotonic()
        if not force and now - self._last_try < _RESTORE_EVERY_S:
            return
        self._last_try = now
        try:
            if shutil.disk_usage(self.path.parent).free < RESERVE_BYTES + 2 * WAL_LIMIT:
                return
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
            self._last_try = time.monotonic()
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
        conn.execute(f"PRAGMA wal_autocheckpoint={_TIGHT_CHECKPOINT_PAGES}")
        conn.execute(f"PRAGMA journal_size_limit={_TIGHT_CHECKPOINT_PAGES * 4096}")
