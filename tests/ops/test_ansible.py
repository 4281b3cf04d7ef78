"""The fleet roll-out in deploy/ansible/ (issue 14 item 6): checked, linted, and run.

The real run is ``ansible-playbook --connection=local`` against localhost into a scratch
root (``edge_root``, i.e. install.sh --root): the offline bundle is installed with pip cut
off from any index, the gateway is provisioned with certificates from tests/pki.py and
its connection tested against a real Mosquitto with TLS client certificates. A second run
must report ``changed=0``.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.pki import make_pki, tls_broker
from tests.shared_data import REPO

ANSIBLE = REPO / "deploy" / "ansible"
BIN = Path(sys.executable).parent
OFFLINE = {"PIP_NO_INDEX": "1", "PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_FIND_LINKS": ""}


def _env(tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "ANSIBLE_CONFIG": str(tmp / "no-ansible.cfg"),  # nothing from the cwd or ~
        "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-local"),
        "ANSIBLE_REMOTE_TEMP": str(tmp / "ansible-remote"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
    }


def test_playbook_syntax_check(tmp_path: Path) -> None:
    proc = subprocess.run(
        [BIN / "ansible-playbook", "--syntax-check",
         "-i", ANSIBLE / "inventory.example.yml", ANSIBLE / "site.yml"],
        env=_env(tmp_path), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ansible_lint_passes_the_production_profile(tmp_path: Path) -> None:
    proc = subprocess.run(
        [BIN / "ansible-lint", "--nocolor", "--profile", "production",
         "site.yml", "roles", "inventory.example.yml"],
        cwd=ANSIBLE, env={**_env(tmp_path), "HOME": str(tmp_path)},
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _recap(out: str) -> dict[str, int]:
    m = re.search(r"^localhost\s+:\s+(.*)$", out, re.MULTILINE)
    assert m, out
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}


@pytest.mark.skipif(os.geteuid() != 0, reason="the installer runs as root")
def test_rollout_to_localhost_succeeds_and_a_second_run_changes_nothing(
    bundle: Path, tmp_path: Path
) -> None:
    pki = tmp_path / "pki"
    pki.mkdir()
    make_pki(pki)  # client certificate CN gw-0001
    broker, tls_port = tls_broker(pki)
    root = tmp_path / "root"
    inventory = tmp_path / "inventory.yml"
    host = {
        "ansible_connection": "local",
        "ansible_become": False,  # already root; no sudo on a CI machine
        "ansible_python_interpreter": sys.executable,
        "edge_gateway_id": "gw-0001",
        "edge_site": "test-site",
        "edge_broker": f"mqtts://127.0.0.1:{tls_port}",
        "edge_ca": str(pki / "ca.crt"),
        "edge_cert": str(pki / "client.crt"),
        "edge_key": str(pki / "client.key"),
        "edge_bundle": str(bundle),
        "edge_root": str(root),
    }
    inventory.write_text(yaml.safe_dump({"edge_gateways": {"hosts": {"localhost": host}}}))
    cmd = [
        str(BIN / "ansible-playbook"), "-i", str(inventory), "--connection=local",
        str(ANSIBLE / "site.yml"),
    ]  # fmt: skip

    def play() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            cmd, env={**_env(tmp_path), **OFFLINE},
            capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip

    try:
        first = play()
        assert first.returncode == 0, first.stdout + first.stderr
        assert _recap(first.stdout)["changed"] >= 2, first.stdout  # installed, provisioned
        assert "gw-0001-provision" in broker.log_text()  # the connection test reached it
        second = play()
        assert second.returncode == 0, second.stdout + second.stderr
    finally:
        broker.stop()
    recap = _recap(second.stdout)
    assert recap["changed"] == 0 and recap["failed"] == 0, second.stdout
    etc = root / "etc" / "edge-agent"
    assert yaml.safe_load((etc / "config.yaml").read_text())["gateway"]["id"] == "gw-0001"
    assert stat.S_IMODE((etc / "tls" / "client.key").stat().st_mode) == 0o600
    assert (root / "opt/edge-agent/venv/bin/edge-agent").exists()
    assert "PRIVATE KEY" not in first.stdout + second.stdout
    assert not list(Path("/tmp").glob("edge-agent-*/client.key"))  # staging removed
