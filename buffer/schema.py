"""Opening the outbox file: schema, migrations, pragmas and quarantine of a bad file.

This module decides whether a file is ours and usable. A damaged, foreign or unknown-
schema file is renamed aside (never deleted) and a new one created; a file that is only
locked, unreadable or on a full disk is *not* damage, and the error propagates so the
agent retries (moving a healthy backlog aside would "lose" it). Migrations go through
sqlite-utils (``add_column``), the one place it earns its keep here; the hot paths use
the plain ``sqlite3`` connection.

``sqlite_utils`` is imported inside ``_migrate`` only: at import it imports numpy whenever
numpy is installed (sqlite_utils/db.py, to map numpy column types), which costs ~18 MB of
RSS in a gateway that has no camera (issue 19). Imported lazily, it loads only when a file
is opened, and ``_migrate`` only needs it when a migration is actually due.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from buffer.config import BufferConfig
from buffer.space import page_cap, set_wal_limit, wal_limit

log = logging.getLogger(__name__)

# "EDGE" — marks files created by this agent, so a foreign SQLite file is recognised.
APPLICATION_ID = 0x45444745
SCHEMA_VERSION = 4

PENDING = 0
DEAD = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    TEXT    NOT NULL,
    part        INTEGER NOT NULL DEFAULT 0,
    seq         INTEGER NOT NULL,
    priority    INTEGER NOT NULL,
    topic       TEXT    NOT NULL,
    payload     BLOB    NOT NULL,
    size        INTEGER NOT NULL,
    created     REAL    NOT NULL,
    state       INTEGER NOT NULL DEFAULT 0,
    reason      TEXT,
    synced      INTEGER NOT NULL DEFAULT 1,
    crc         INTEGER,
    UNIQUE (event_id, part)
);
CREATE INDEX IF NOT EXISTS outbox_send ON outbox (state, priority DESC, id);
CREATE INDEX IF NOT EXISTS outbox_shed ON outbox (priority, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

# v4: alarms awaiting the platform's receipt and their escalations (buffer/receipts.py),
# created when the outbox opens with receipts configured: a gateway without them keeps
# the file (and its pages under ``max_file_bytes``) exactly as before.
RECEIPTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS awaiting (
    event_id      TEXT PRIMARY KEY,
    type          TEXT NOT NULL,
    subject       TEXT NOT NULL,
    severity      TEXT NOT NULL,
    data          TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    priority      INTEGER NOT NULL,
    topic         TEXT NOT NULL,
    payload       BLOB NOT NULL,
    crc           INTEGER,
    created       REAL NOT NULL,
    stage         TEXT NOT NULL DEFAULT 'none',
    receipted     REAL,
    by            TEXT,
    announced     INTEGER NOT NULL DEFAULT 1,
    next_announce REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS awaiting_open ON awaiting (stage, next_announce);
CREATE TABLE IF NOT EXISTS escalation (
    event_id  TEXT NOT NULL,
    channel   TEXT NOT NULL,
    state     TEXT NOT NULL,
    attempts  INTEGER NOT NULL DEFAULT 0,
    next_try  REAL NOT NULL,
    reason    TEXT,
    updated   REAL NOT NULL,
    reported  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (event_id, channel)
);
"""


class UnusableFile(sqlite3.DatabaseError):
    """Our own checks found the file foreign, damaged or of an unknown schema."""


# Only these mean the file itself is bad. Anything else (locked, read-only, permission
# denied, a full disk) is a problem of the moment.
_DAMAGED = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def file_is_damaged(exc: sqlite3.DatabaseError) -> bool:
    if isinstance(exc, UnusableFile):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in _DAMAGED


def open_outbox(
    config: BufferConfig, *, receipts: bool = False
) -> tuple[sqlite3.Connection, str | None]:
    """The connection, and where a damaged file was moved to (``None`` if it was not).

    ``receipts``: also create the receipt tables (v4) if they are not there yet."""
    path = config.path
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = _open_checked(path, config)
        moved: str | None = None
    except sqlite3.DatabaseError as exc:
        if not file_is_damaged(exc):
            raise
        moved = str(quarantine(path))
        log.error("buffer %s is unusable (%s); renamed to %s, starting a new one", path, exc, moved)
        conn = _open_checked(path, config)
    if receipts:
        try:
            conn.executescript(RECEIPTS_SCHEMA)
        except BaseException:
            conn.close()
            raise
    return conn, moved


def make_private(path: Path) -> None:
    """Create ``path`` mode 0600, or take group/other access off an existing one.

    The outbox holds event payloads and camera snapshots of residents (privacy), and
    SQLite gives the ``-wal`` and ``-shm`` files the database file's mode; left to the
    umask the file would be world-readable (found by tests/reliability/test_security.py).
    An error here is left to ``sqlite3.connect`` to report.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_mode & 0o077:
                os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
    except OSError:
        pass


def _open_checked(path: Path, config: BufferConfig) -> sqlite3.Connection:
    make_private(path)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=True)
    try:
        set_pragmas(conn, config)
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app_id not in (0, APPLICATION_ID) or (app_id == 0 and tables):
            raise UnusableFile(f"foreign SQLite file (application_id={app_id})")
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise UnusableFile(f"integrity check failed: {check}")
        if app_id == 0:
            conn.executescript(SCHEMA)
            conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        _migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _migrate(conn: sqlite3.Connection) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:
        return  # the usual case: nothing to migrate, and no sqlite_utils (nor numpy) loaded
    if version == 3:
        # v4's tables are created by the store when receipts are configured (plain SQL):
        # nothing to change in the file, and no sqlite_utils either.
        conn.execute("PRAGMA user_version=4")
        return
    import sqlite_utils  # lazy: it pulls numpy in when installed (see the module docstring)

    outbox = sqlite_utils.Database(conn).table("outbox")
    # v2 marks rows written while the clock was unsynchronised (see retention.expire);
    # v3 adds a per-row checksum of topic and payload (rows before it have none).
    for target, column, kind, default in ((2, "synced", int, 1), (3, "crc", int, None)):
        if version != target - 1:
            continue
        if column not in outbox.columns_dict:
            outbox.add_column(column, kind, not_null_default=default)
        conn.execute(f"PRAGMA user_version={target}")
        version = target
    if version == 3:
        conn.execute("PRAGMA user_version=4")
        version = 4
    if version != SCHEMA_VERSION:
        raise UnusableFile(f"unknown outbox schema version {version}")


def set_pragmas(conn: sqlite3.Connection, config: BufferConfig) -> None:
    """Set on every open: only journal_mode persists in the file."""
    # busy_timeout first, so that switching the journal mode waits for (say) a crew's
    # sqlite3 shell instead of failing at once.
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={config.synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    # The WAL's size is counted in ``max_file_bytes`` and adjusted to the free space
    # later (buffer.space).
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    set_wal_limit(conn, wal_limit(config.max_file_bytes))
    if config.max_file_bytes is not None:
        conn.execute(f"PRAGMA max_page_count={page_cap(config.max_file_bytes, page)}")


def quarantine(path: Path) -> Path:
    """Rename ``path`` (with its -wal and -shm) aside; never delete a backlog."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    path.rename(target)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.rename(target.with_name(target.name + suffix))
    return target
