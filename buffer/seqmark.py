"""The event seq high-water mark, kept outside SQLite so that a lost WAL is noticed.

Committed events live in the ``-wal`` until a checkpoint: if the WAL is damaged or
deleted (storage fault, an operator "cleaning up"), SQLite opens the older state
without a word, and the seq counter would restart below numbers the platform has
already seen, hiding the loss from its gap check (issue 9 item 4). So after every
commit the last seq is also written to ``<db>-seq``: a ``pwrite`` per commit (page
cache, survives a killed process) and an ``fsync`` at most once a second and at close
(after a power loss the mark may be a little behind, which only narrows detection,
never causes a false alarm). On open, a mark above the database's own counter means
committed events were lost: the range is reported and seq continues above the mark.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)

_SYNC_EVERY_S = 1.0
_WIDTH = 20


class SeqMark:
    """``<db>-seq``: the highest seq known committed. Owned by the writer thread."""

    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + "-seq")
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        self.value = self._read()
        self._last_sync = time.monotonic()
        self._dirty = False

    def _read(self) -> int:
        raw = os.pread(self._fd, 64, 0).strip()
        try:
            return int(raw) if raw else 0
        except ValueError:
            log.error("buffer seq mark %s is unreadable (%r); ignoring it", self.path, raw)
            return 0

    def advance(self, seq: int) -> None:
        """Record ``seq`` as committed (never moves backwards)."""
        if seq <= self.value:
            return
        self.value = seq
        os.pwrite(self._fd, f"{seq:0{_WIDTH}d}\n".encode(), 0)
        self._dirty = True
        if time.monotonic() - self._last_sync >= _SYNC_EVERY_S:
            self.sync()

    def sync(self) -> None:
        if self._dirty:
            os.fsync(self._fd)
            self._dirty = False
        self._last_sync = time.monotonic()

    def close(self) -> None:
        try:
            self.sync()
        except OSError as exc:
            log.warning("buffer seq mark not synced at close: %s", exc)
        finally:
            os.close(self._fd)
