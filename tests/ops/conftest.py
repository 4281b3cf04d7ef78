"""One offline bundle per test session, shared by the installer and the Ansible tests."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import pytest

from tests.shared_data import REPO


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An x86_64 ``modbus`` bundle from deploy/bundle.sh (building it needs the network)."""
    if platform.machine() != "x86_64":
        pytest.skip("the bundle tests build an x86_64 bundle for this machine")
    out = tmp_path_factory.mktemp("dist")
    cmd = [str(REPO / "deploy/bundle.sh"), "--arch", "x86_64", "--extras", "modbus"]
    proc = subprocess.run(
        [*cmd, "--out", str(out)],
        env=dict(os.environ), capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, f"bundle.sh failed:\n{proc.stdout}\n{proc.stderr}"
    return Path(proc.stdout.strip().splitlines()[-1])
