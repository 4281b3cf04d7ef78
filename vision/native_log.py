"""OpenCV's and FFmpeg's own messages, captured into the agent's log format.

Both libraries write straight to file descriptor 2 from C/C++ (``[ WARN:0@0.019] global
cap.cpp:212 open VIDEOIO(FFMPEG): ...``, ``[rtsp @ 0x55...] method DESCRIBE failed: 404``),
past Python's logging: under journald they arrive without our timestamp, level or logger
name, interleaved with nothing that says which camera thread they came from. So fd 2 is
pointed at a pipe whose reader thread logs each line as ``vision.opencv`` (level from
OpenCV's own tag) or ``vision.ffmpeg`` (WARNING), anything else as ``vision.native``.
Python's ``sys.stderr`` keeps the real stderr, so a traceback is never swallowed and our
own handlers can never feed the pipe back into itself.

Process-wide and once: ``edge-agent run`` calls :func:`capture_native_output` after
setting up logging (agent/commands/core.py). No OpenCV import is needed for that; this is
in vision/ because these are vision's libraries (issue 14 item 7).
"""

from __future__ import annotations

import io
import logging
import os
import re
import sys
import threading

_FFMPEG = re.compile(r"^\[[\w,./:-]+ @ 0x[0-9a-f]+\]")
_OPENCV_LEVELS = {
    "FATAL": logging.CRITICAL,
    "ERROR": logging.ERROR,
    "WARN": logging.WARNING,
    "INFO": logging.INFO,
    "DEBUG": logging.DEBUG,
    "VERBOSE": logging.DEBUG,
}
_OPENCV = re.compile(r"^\[\s*(FATAL|ERROR|WARN|INFO|DEBUG|VERBOSE):")

_lock = threading.Lock()
_installed = False


def classify(line: str) -> tuple[str, int]:
    """(logger name, level) for one line a native library wrote."""
    m = _OPENCV.match(line)
    if m:
        return "vision.opencv", _OPENCV_LEVELS[m.group(1)]
    if _FFMPEG.match(line):
        return "vision.ffmpeg", logging.WARNING
    return "vision.native", logging.WARNING


def _relay(fd: int) -> None:
    with os.fdopen(fd, "rb") as pipe:
        for raw in pipe:
            line = raw.decode(errors="replace").rstrip()
            if line:
                name, level = classify(line)
                logging.getLogger(name).log(level, "%s", line)


def capture_native_output() -> bool:
    """Route fd 2 through our log from now on; False if already done."""
    global _installed
    with _lock:
        if _installed:
            return False
        sys.stderr.flush()
        real = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
        # Python-level writes (tracebacks, logging's last resort) keep the real stderr.
        sys.stderr = io.TextIOWrapper(
            os.fdopen(real, "wb", buffering=0), errors="backslashreplace", line_buffering=True
        )
        threading.Thread(target=_relay, args=(read_end,), name="native-log", daemon=True).start()
        _installed = True
        return True
