"""deploy/install.sh and deploy/bundle.sh into scratch roots (issue 14 item 4, issue 9 item 9).

One x86_64 bundle is built per module for the local platform (this needs the network, as
building a bundle does on any build machine); every install then runs with pip cut off from
any index (``PIP_NO_INDEX=1`` and an index URL nothing listens on). Checks follow
../shared/research/anchors-reliability.md §7 test 26.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.shared_data import REPO

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the installer runs as root")

OFFLINE = {"PIP_NO_INDEX": "1", "PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_FIND_LINKS": ""}
INSTALL = REPO / "deploy" / "install.sh"


def _run(*cmd: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(c) for c in cmd],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    """Every path under ``root``: its content hash (or link target), mode and owner."""
    out: dict[str, tuple[object, ...]] = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            what: object = ("link", os.readlink(path))
        elif stat.S_ISDIR(st.st_mode):
            what = "dir"
        else:
            what = hashlib.sha256(path.read_bytes()).hexdigest()
        out[str(path.relative_to(root))] = (what, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
    return out


def ids(root: Path, name: str = "edge-agent") -> tuple[int, int]:
    uid = next(
        int(line.split(":")[2])
        for line in (root / "etc/passwd").read_text().splitlines()
        if line.startswith(f"{name}:")
    )
    gid = next(
        int(line.split(":")[2])
        for line in (root / "etc/group").read_text().splitlines()
        if line.startswith(f"{name}:")
    )
    return uid, gid


@pytest.fixture(scope="module")
def installed(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("root")
    _run(INSTALL, "--root", root, "--bundle", bundle, env=OFFLINE)
    return root


def test_bundle_holds_wheels_unit_and_installer(bundle: Path, tmp_path: Path) -> None:
    shutil.unpack_archive(bundle, tmp_path)
    (top,) = tmp_path.iterdir()
    wheels = {p.name.split("-")[0].lower() for p in (top / "wheels").glob("*.whl")}
    assert {"edge_agent", "pydantic_core", "pymodbus", "aiomqtt", "pyyaml"} <= wheels
    assert (top / "install.sh").stat().st_mode & 0o111
    assert (top / "edge-agent.service").read_text().startswith("# Edge-gateway agent")
    assert "BUNDLE_ARCH=x86_64" in (top / "bundle.env").read_text()
    assert "onnxruntime" not in wheels  # only the extras asked for


def test_offline_install_lays_down_what_the_docs_say(installed: Path) -> None:
    root = installed
    uid, gid = ids(root)
    group = (root / "etc/group").read_text()
    for g in ("dialout", "video"):
        assert any(
            line.startswith(f"{g}:") and "edge-agent" in line.split(":")[3].split(",")
            for line in group.splitlines()
        ), g
    passwd = (root / "etc/passwd").read_text()
    assert "edge-agent:x:" in passwd and passwd.rstrip().endswith("/usr/sbin/nologin")

    def mode_owner(rel: str) -> tuple[int, int, int]:
        st = (root / rel).stat()
        return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid

    assert mode_owner("etc/edge-agent") == (0o750, 0, gid)
    assert mode_owner("etc/edge-agent/tls") == (0o750, 0, gid)
    assert mode_owner("etc/edge-agent/config.yaml.example") == (0o640, 0, gid)
    assert mode_owner("var/lib/edge-agent") == (0o700, uid, gid)
    assert mode_owner("etc/systemd/system/edge-agent.service") == (0o644, 0, 0)
    assert mode_owner("opt/edge-agent/share/install.sh") == (0o755, 0, 0)
    # Nothing the service user could use to rewrite code or config.
    for path in root.rglob("*"):
        st = path.lstat()
        if not stat.S_ISLNK(st.st_mode) and st.st_uid == uid:
            assert path == root / "var/lib/edge-agent", path
        if not stat.S_ISLNK(st.st_mode):
            assert not st.st_mode & stat.S_IWOTH, path

    agent = root / "opt/edge-agent/venv/bin/edge-agent"
    assert _run(agent, "--version").stdout.strip() == "edge-agent 0.1.0"
    assert not (root / "etc/edge-agent/config.yaml").exists()  # the service stays disabled


def test_only_the_package_goes_into_the_venv(installed: Path) -> None:
    venv = installed / "opt/edge-agent"
    for bad in (".git", ".venv", "pyproject.toml", "broker.py", "RESULTS.md"):
        assert not list(venv.rglob(bad)), bad
    assert not (venv / "src").exists()
    (site,) = venv.glob("venv/lib/python3*/site-packages")
    assert not (site / "tests").exists() and not (site / "bench").exists()
    for pkg in ("agent", "drivers", "vision", "buffer"):
        assert (site / pkg / "__init__.py").is_file()
    assert not list(site.glob("*.egg-link")) and not list(site.glob("__editable__*"))


def test_second_run_and_run_from_installed_copy_change_nothing(
    installed: Path, bundle: Path
) -> None:
    before = snapshot(installed)
    again = _run(INSTALL, "--root", installed, "--bundle", bundle, env=OFFLINE)
    assert snapshot(installed) == before
    assert again.stdout.rstrip().endswith("install.sh: done (nothing changed)")  # Ansible reads it
    # Issue 9 item 9: the installed copy re-runs without deleting its own source.
    proc = _run(installed / "opt/edge-agent/share/install.sh", "--root", installed, env=OFFLINE)
    assert "done (nothing changed)" in proc.stdout
    assert snapshot(installed) == before


def test_install_from_source_builds_a_wheel_and_copies_no_work_tree(
    bundle: Path, tmp_path: Path
) -> None:
    wheels = tmp_path / "unpacked"
    shutil.unpack_archive(bundle, wheels)
    (top,) = wheels.iterdir()
    root = tmp_path / "root"
    # The online path: the wheel build fetches setuptools; dependencies come from the
    # bundle's wheels to keep the test quick.
    env = {"PIP_FIND_LINKS": str(top / "wheels")}
    first = _run(INSTALL, "--root", root, "--extras", "modbus", env=env)
    assert "done (changed)" in first.stdout
    before = snapshot(root)
    _run(INSTALL, "--root", root, "--extras", "modbus", env=env)
    assert snapshot(root) == before
    names = {p.name for p in (root / "opt/edge-agent").rglob("*")}
    assert not names & {".git", ".venv", "pyproject.toml", "broker.py"}


def test_uninstall_keeps_config_and_state_and_purge_removes_them(
    installed: Path, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    shutil.copytree(installed, root, symlinks=True)
    (root / "etc/edge-agent/config.yaml").write_text("gateway: {id: gw-1}\n")
    (root / "var/lib/edge-agent/outbox.db").write_bytes(b"undelivered")
    _run(INSTALL, "--root", root, "--uninstall")
    assert not (root / "opt/edge-agent").exists()
    assert not (root / "etc/systemd/system/edge-agent.service").exists()
    assert (root / "etc/edge-agent/config.yaml").exists()
    assert (root / "var/lib/edge-agent/outbox.db").read_bytes() == b"undelivered"
    assert "edge-agent:" in (root / "etc/passwd").read_text()
    _run(INSTALL, "--root", root, "--purge")
    assert not (root / "etc/edge-agent").exists()
    assert not (root / "var/lib/edge-agent").exists()
    assert "edge-agent:" not in (root / "etc/passwd").read_text()
    assert "edge-agent" not in (root / "etc/group").read_text()
