"""Log lines for stdout/journald, stamped in UTC like the events (``...T01:02:03.456Z``).

One time zone everywhere (issue 14 item 7): an event's ``time`` is RFC 3339 UTC, so are
our log lines, under journald too; a crew comparing the two never converts.
``journalctl -o cat -u edge-agent`` shows our lines without journald's local-time prefix.
"""

from __future__ import annotations

import logging
import sys
import time

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class UtcFormatter(logging.Formatter):
    """``2026-12-02T01:02:03.456Z``: ISO 8601, milliseconds, Z for UTC."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(UtcFormatter(FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # paho and pymodbus are chatty at INFO/DEBUG; we log their transitions ourselves.
    for noisy in ("pymodbus", "paho", "aiomqtt"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
