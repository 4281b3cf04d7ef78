"""``edge-agent simulate elevator`` as a subprocess, for the Modbus CLI tests."""

from __future__ import annotations

import subprocess
import sys


def start_simulator(*extra: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agent",
            "simulate",
            "elevator",
            "--unit",
            "1=normal",
            "--unit",
            "3=normal",
            "--profile",
            "inovance-nice3000plus",
            "--duration",
            "60",
            *extra,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline()
