"""First-sighting snapshots kept on disk until their violation is decided.

The first-sighting pair is taken when a candidate opens and sent only when (if) the
violation starts, minutes later; keeping it in a file means a restart in between still
sends the full pair. Files live under the driver's state directory and are deleted when
the candidate ends either way; orphans from a crash are removed at start. Losing one is
harmless (the event then carries the confirmation pair only), so no fsync.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

_VIEWS = ("frame", "crop")


class FirstSightingStore:
    def __init__(self, state_dir: Path, camera: str) -> None:
        self.dir = Path(state_dir) / f"camera-{camera}.evidence"

    def _path(self, candidate: str, view: str) -> Path:
        return self.dir / f"{candidate}.{view}.jpg"

    def put(self, candidate: str, frame_jpeg: bytes, crop_jpeg: bytes) -> None:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            for view, data in zip(_VIEWS, (frame_jpeg, crop_jpeg), strict=True):
                tmp = self._path(candidate, view).with_suffix(".tmp")
                tmp.write_bytes(data)
                tmp.replace(self._path(candidate, view))
        except OSError as exc:
            log.warning("cannot keep first-sighting snapshot of %s: %s", candidate, exc)

    def get(self, candidate: str) -> tuple[bytes, bytes] | None:
        try:
            frame, crop = (self._path(candidate, v).read_bytes() for v in _VIEWS)
        except OSError:
            return None
        return frame, crop

    def discard(self, candidate: str) -> None:
        for view in _VIEWS:
            with contextlib.suppress(OSError):
                self._path(candidate, view).unlink()

    def keep_only(self, candidates: Iterable[str]) -> None:
        """Remove snapshots of candidates that no longer exist (e.g. after a crash)."""
        keep = set(candidates)
        if not self.dir.is_dir():
            return
        for path in self.dir.iterdir():
            if path.name.split(".", 1)[0] not in keep:
                with contextlib.suppress(OSError):
                    path.unlink()
