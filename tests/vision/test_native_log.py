"""OpenCV/FFmpeg messages land in our log format, stamped in UTC (issue 14 item 7).

The capture redirects file descriptor 2 for the whole process, so it runs in a child
interpreter set up as ``edge-agent run`` sets itself up, with the real OpenCV opening a
file that is not a video (FFmpeg: "moov atom not found") and a path that does not exist
(OpenCV: "[ WARN:...]").
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agent.logs import UtcFormatter
from tests.shared_data import REPO
from vision.native_log import classify

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"

CHILD = textwrap.dedent(
    """
    import logging, sys, time
    from agent.logs import setup_logging
    from vision.native_log import capture_native_output

    setup_logging("INFO")
    seen = []
    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record.name)
    logging.getLogger().addHandler(Keep())
    capture_native_output()
    import cv2
    cv2.VideoCapture(sys.argv[1], cv2.CAP_FFMPEG)
    cv2.VideoCapture(sys.argv[1] + ".missing")
    deadline = time.monotonic() + 30
    while not {"vision.ffmpeg", "vision.opencv"} <= set(seen) and time.monotonic() < deadline:
        time.sleep(0.05)
    print("python's own stderr still works", file=sys.stderr)
    """
)


def test_opencv_and_ffmpeg_lines_are_logged_in_our_format(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-video.mp4"
    bad.write_bytes(b"garbage, not an mp4")
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(bad)],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    out = proc.stdout.splitlines()
    assert any(
        re.fullmatch(rf"{STAMP} WARNING vision\.ffmpeg: \[mov,mp4.* @ 0x[0-9a-f]+\] .+", line)
        for line in out
    ), proc.stdout
    assert any(
        re.fullmatch(rf"{STAMP} WARNING vision\.opencv: \[ WARN:.+", line) for line in out
    ), proc.stdout
    # Nothing native reached the real stderr; Python's own writes still do.
    assert proc.stderr.strip() == "python's own stderr still works", proc.stderr


@pytest.mark.parametrize(
    ("line", "name", "level"),
    [
        ("[ WARN:0@0.019] global cap.cpp:212 open VIDEOIO(FFMPEG)", "vision.opencv", 30),
        ("[ERROR:0@1.2] global cap_v4l.cpp:999 can't open camera", "vision.opencv", 40),
        ("[ INFO:0@0.1] global registry.cpp", "vision.opencv", 20),
        ("[rtsp @ 0x55d0c0a0b0c0] method DESCRIBE failed: 404 Not Found", "vision.ffmpeg", 30),
        ("[h264 @ 0x7f00aa000b00] error while decoding MB 12 3", "vision.ffmpeg", 30),
        ("something else", "vision.native", 30),
    ],
)
def test_lines_are_classified_by_their_library_tag(line: str, name: str, level: int) -> None:
    assert classify(line) == (name, level)


def test_log_time_is_utc_and_marked() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    record.created, record.msecs = 1_796_000_523.456, 456.0
    line = UtcFormatter("%(asctime)s %(message)s").format(record)
    assert line == "2026-11-30T01:02:03.456Z m"
