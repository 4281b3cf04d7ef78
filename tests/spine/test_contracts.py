"""The import contracts cover whole packages: a planted import in any module breaks them.

Each case copies the four root packages and pyproject.toml into a temporary directory,
plants one forbidden import (in an existing module or a new one, as a contributor
would), and runs the real ``lint-imports`` there. The unplanted copy must pass, so each
failure is the planted line's doing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.shared_data import REPO

LINT = Path(sys.executable).with_name("lint-imports")

# (file to write or append to, line planted, contract that must break)
PLANTS = [
    ("drivers/modbus/episode_store.py", "import serial", "pyserial lives only"),
    ("drivers/newkind/codecs.py", "import pymodbus", "pymodbus lives only"),
    ("buffer/extra.py", "import sqlite_utils", "sqlite-utils lives only"),
    ("vision/uplink.py", "import aiomqtt", "aiomqtt and paho live only"),
    ("agent/events_extra.py", "import paho.mqtt.client", "aiomqtt and paho live only"),
    ("drivers/synthetic/vision_hint.py", "import onnxruntime", "onnxruntime lives only"),
    ("buffer/thumbs.py", "import cv2", "OpenCV lives only"),
    ("drivers/synthetic/borrow.py", "import drivers.modbus.taxonomy", "kinds under drivers/"),
]


def _copy(tmp: Path) -> Path:
    root = tmp / "tree"
    root.mkdir()
    for pkg in ("agent", "drivers", "vision", "buffer"):
        shutil.copytree(REPO / pkg, root / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT), "--no-cache"], cwd=root, env=env, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def clean_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = _copy(tmp_path_factory.mktemp("contracts"))
    result = _lint(root)
    assert result.returncode == 0, result.stdout + result.stderr
    return root


@pytest.mark.parametrize(("target", "line", "contract"), PLANTS)
def test_planted_import_breaks_its_contract(
    clean_tree: Path, tmp_path: Path, target: str, line: str, contract: str
) -> None:
    root = tmp_path / "tree"
    shutil.copytree(clean_tree, root)
    path = root / target
    if not path.parent.exists():
        path.parent.mkdir(parents=True)
        (path.parent / "__init__.py").write_text('"""A new kind."""\n')
    existing = path.read_text() if path.exists() else '"""Planted."""\n'
    path.write_text(existing + f"\n{line}  # planted by the test\n")
    result = _lint(root)
    out = result.stdout
    assert result.returncode != 0, out
    broken = [ln for ln in out.splitlines() if " BROKEN" in ln]
    assert any(contract in ln for ln in broken), out
    module = target.removesuffix(".py").replace("/", ".")
    assert module in out, out
