"""Throwaway venvs for the gateways under test, cached under the bench's work dir.

Each gateway gets its own ``python -m venv`` (never the project's venv, never a project
dependency) under ``$EDGE_AGENT_BENCH_DIR/peers/venvs`` (default: the system temp dir),
so a rerun reuses them; a marker file records what was installed, and a different pin
rebuilds the venv. ``fresh`` reinstalls the packages themselves on every run (edge-agent
from this checkout: the code under test must be the code in the tree).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def work_dir() -> Path:
    base = os.environ.get("EDGE_AGENT_BENCH_DIR") or str(
        Path(tempfile.gettempdir()) / "edge-agent-bench"
    )
    path = Path(base) / "peers"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _pip(python: Path, args: list[str]) -> None:
    res = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        raise RuntimeError(f"pip install {' '.join(args)} failed:\n{res.stderr[-3000:]}")


def ensure(cache: Path, name: str, requirements: list[str], *, fresh: bool = False) -> Path:
    """The venv's python with ``requirements`` installed; built once, then reused."""
    root = cache / "venvs" / name
    python = root / "bin" / "python"
    marker = root / "bench-installed.json"
    wanted = json.dumps(requirements)
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        if fresh:
            _pip(python, ["--force-reinstall", "--no-deps", *requirements])
        return python
    shutil.rmtree(root, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    _pip(python, requirements)
    marker.write_text(wanted)
    return python


def version(python: Path, dist: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({dist!r}))"
    res = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return res.stdout.strip()


def has_module(python: Path, module: str) -> bool:
    code = f"import importlib.util as u, sys; sys.exit(u.find_spec({module!r}) is None)"
    return subprocess.run([str(python), "-c", code], capture_output=True).returncode == 0
