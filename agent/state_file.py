"""Small state files that survive a power cut: written whole, then renamed into place.

Drivers keep what must outlive a restart (open parking candidates, raised elevator fault
episodes) in one JSON file each under their state directory. ``write_atomic`` writes a
temporary file, fsyncs it, renames it over the old one and fsyncs the directory, so a
power cut leaves either the old or the new state, never half of one. Blocking: call it
from a worker thread (``asyncio.to_thread``), not on the event loop.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any


def write_atomic(path: Path, data: bytes, *, durable: bool = True, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` (``mode``, 0600 unless told) atomically and, unless
    told not to, durably (fsync of the file and its directory; a power cut keeps old or new)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A unique temporary name: a save on shutdown may overlap one still in a thread.
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        if mode != 0o600:
            os.fchmod(fd, mode)  # exact, whatever the umask
        os.write(fd, data)
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)
    if not durable:
        return
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def write_json(path: Path, doc: Any) -> None:
    write_atomic(path, json.dumps(doc, separators=(",", ":")).encode())


def read_json(path: Path) -> Any:
    """The document in ``path``; ``None`` if there is no file.

    Raises ValueError (with the path) if the file cannot be read or is not JSON, so the
    caller can say so once and start clean rather than stop.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
