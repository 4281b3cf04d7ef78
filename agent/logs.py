"""Plain log lines for stdout/journald; journald adds its own timestamps."""

from __future__ import annotations

import logging
import os
import sys


def setup_logging(level: str = "INFO") -> None:
    under_journald = bool(os.environ.get("JOURNAL_STREAM"))
    fmt = (
        "%(levelname)s %(name)s: %(message)s"
        if under_journald
        else ("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # paho and pymodbus are chatty at INFO/DEBUG; we log their transitions ourselves.
    for noisy in ("pymodbus", "paho", "aiomqtt"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
