"""``config check`` = start-up minus the devices: exit 2 with FILE:LINE key.path, else 0.

Covers the acceptance list of issue 8 (missing profile, misspelled rule key, missing
model, wrong model hash, unreadable TLS key, key with an unsafe mode, non-writable state
dir) and issue 9 items 5, 6 and 8 (YAML bombs and huge files in bounded time and memory,
plaintext to a remote host, a key the service user cannot read).
"""

from __future__ import annotations

import os
import pwd
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from agent.cli import main
from tests.shared_data import MODEL_SHA256, REPO


def base(tmp: Path) -> dict:
    return {
        "gateway": {"id": "gw-1"},
        "mqtt": {"host": "127.0.0.1", "insecure": True},
        "buffer": {"path": str(tmp / "state" / "buffer.db")},
    }


def modbus(**device: object) -> dict:
    return {
        "name": "lifts",
        "kind": "modbus",
        "devices": [{"id": "lift-1", "unit_id": 1, "profile": "gb-monitor-box", **device}],
    }


def camera(model: Path, sha: str = MODEL_SHA256) -> dict:
    return {
        "name": "cam",
        "kind": "camera",
        "source": "/tmp/none.avi",
        "model": {"path": str(model), "sha256": sha},
        "zones": [{"id": "z", "kind": "corridor", "polygon": [[0, 0], [1, 0], [1, 1]]}],
    }


def write(tmp: Path, doc: dict) -> Path:
    path = tmp / "agent.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def check(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["config", "check", str(path), *extra])
    return code, capsys.readouterr().err


def line_of(path: Path, needle: str) -> int:
    for n, text in enumerate(path.read_text().splitlines(), 1):
        if needle in text:
            return n
    raise AssertionError(needle)


def test_valid_config_passes_and_both_spellings_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], shared_dir: Path
) -> None:
    doc = base(tmp_path)
    doc["drivers"] = [
        modbus(holds_s={"ENTRAP_LEVEL": 20}),
        camera(shared_dir / "models" / "yolox_nano.onnx"),
    ]
    path = write(tmp_path, doc)
    assert main(["config", "check", str(path)]) == 0
    assert main(["config", "check", "--config", str(path)]) == 0
    assert main(["config", "check"]) == 2


def test_missing_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = base(tmp_path)
    doc["drivers"] = [modbus(profile="gb-monitor-bx")]
    path = write(tmp_path, doc)
    code, err = check(path, capsys)
    assert code == 2
    line = line_of(path, "profile: gb-monitor-bx")
    assert f"{path}:{line} drivers[0].devices[0].profile: no shipped profile 'gb-monitor-bx'" in err


def test_misspelled_rule_key_has_did_you_mean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = base(tmp_path)
    doc["drivers"] = [modbus(holds_s={"ENTRAP_LEVL": 20})]
    path = write(tmp_path, doc)
    code, err = check(path, capsys)
    line = line_of(path, "ENTRAP_LEVL")
    assert code == 2
    assert (
        f"{path}:{line} drivers[0].devices[0].holds_s.ENTRAP_LEVL: no fault rule "
        "'ENTRAP_LEVL' (did you mean 'ENTRAP_LEVEL'?)"
    ) in err


def test_missing_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = base(tmp_path)
    doc["drivers"] = [camera(tmp_path / "nope.onnx")]
    path = write(tmp_path, doc)
    code, err = check(path, capsys)
    line = line_of(path, "nope.onnx")
    assert code == 2
    assert f"{path}:{line} drivers[0].model.path: cannot read model" in err


def test_wrong_model_hash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], shared_dir: Path
) -> None:
    doc = base(tmp_path)
    doc["drivers"] = [camera(shared_dir / "models" / "yolox_nano.onnx", sha="0" * 64)]
    path = write(tmp_path, doc)
    code, err = check(path, capsys)
    line = line_of(path, "sha256:")
    assert code == 2
    assert f"{path}:{line} drivers[0].model.sha256: model " in err and MODEL_SHA256 in err


def _tls(tmp: Path, key_mode: int = 0o600) -> dict:
    for name in ("ca.crt", "gw.crt", "gw.key"):
        (tmp / name).write_text("x")
    os.chmod(tmp / "gw.key", key_mode)
    doc = base(tmp)
    doc["mqtt"] = {
        "host": "broker.example",
        "tls": {"ca": str(tmp / "ca.crt"), "cert": str(tmp / "gw.crt"), "key": str(tmp / "gw.key")},
    }
    return doc


def test_unreadable_key_and_unsafe_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _tls(tmp_path, 0o644)
    path = write(tmp_path, doc)
    code, err = check(path, capsys)
    line = line_of(path, "key:")
    assert code == 2
    assert f"{path}:{line} mqtt.tls.key: private key" in err and "(mode 0644)" in err
    (tmp_path / "gw.key").unlink()
    code, err = check(path, capsys)
    assert code == 2
    assert f"{path}:{line} mqtt.tls.key: cannot read {tmp_path / 'gw.key'}" in err


def test_key_the_service_user_cannot_read(capsys: pytest.CaptureFixture[str]) -> None:
    """Root-owned 0600 key: fine for root, fatal for the service (issue 9 item 8)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to own a key the service user cannot read")
    user = pwd.getpwuid(65534).pw_name  # nobody
    # Outside pytest's 0700 tmp tree, so only the key's own mode decides.
    tmp = Path(tempfile.mkdtemp(prefix="edge-check-", dir="/tmp"))
    try:
        os.chmod(tmp, 0o755)
        doc = _tls(tmp)
        for name in ("ca.crt", "gw.crt"):
            os.chmod(tmp / name, 0o644)
        os.mkdir(tmp / "state", 0o777)
        os.chmod(tmp / "state", 0o777)
        path = write(tmp, doc)
        assert check(path, capsys)[0] == 0  # as root
        code, err = check(path, capsys, "--user", user)
        line = line_of(path, "key:")
        assert code == 2
        assert f"{path}:{line} mqtt.tls.key: cannot read {tmp / 'gw.key'}: user {user}" in err
        os.chown(tmp / "gw.key", 65534, -1)
        assert check(path, capsys, "--user", user)[0] == 0, capsys.readouterr().err
    finally:
        shutil.rmtree(tmp)


def test_state_dir_not_writable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = base(tmp_path)
    (tmp_path / "ro").mkdir()
    doc["state_dir"] = str(tmp_path / "ro")
    os.chmod(tmp_path / "ro", 0o500)
    path = write(tmp_path, doc)
    if os.geteuid() == 0:
        # root writes anywhere; the service user may not
        code, err = check(path, capsys, "--user", pwd.getpwuid(65534).pw_name)
    else:
        code, err = check(path, capsys)
    assert code == 2
    line = line_of(path, "state_dir:")
    assert f"{path}:{line} state_dir: state directory {tmp_path / 'ro'}" in err
    (tmp_path / "file").write_text("")
    doc["state_dir"] = str(tmp_path / "file")
    code, err = check(write(tmp_path, doc), capsys)
    assert code == 2 and "is not a directory" in err


def test_plaintext_to_a_remote_host_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = base(tmp_path)
    doc["mqtt"] = {
        "host": "platform.example.net",
        "port": 1883,
        "insecure": True,
        "password": "hunter2",
    }
    path = write(tmp_path, doc)
    code, err = check(path, capsys)
    assert code == 2
    assert f"{path}:{line_of(path, 'insecure:')} mqtt.insecure: plaintext MQTT to " in err
    assert "hunter2" not in err
    for host in ("localhost", "::1", "127.0.0.2"):
        doc["mqtt"] = {"host": host, "insecure": True}
        assert check(write(tmp_path, doc), capsys)[0] == 0


BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def _check_in_child(path: Path) -> subprocess.CompletedProcess[str]:
    """``config check`` in a process capped at 512 MB of address space."""

    def cap() -> None:
        limit = 512 * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return subprocess.run(
        [sys.executable, "-m", "agent", "config", "check", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        preexec_fn=cap,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bomb", BOMB, "aliases expand to more than"),
        ("deep-flow", "a: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than 64 levels"),
        ("deep-block", "".join("  " * i + f"k{i}:\n" for i in range(200)), "nested more than"),
        ("huge", "# padding\n" * 200_000, "larger than"),
    ],
)
def test_config_bombs_exit_2_in_bounded_memory(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    result = _check_in_child(path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_every_example_config_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], shared_dir: Path
) -> None:
    """deploy/config.example.yaml with its /etc and /var paths under tmp_path, and each
    examples/*.yaml driver fragment inside a minimal config."""
    text = (REPO / "deploy" / "config.example.yaml").read_text()
    text = text.replace("/etc/edge-agent", str(tmp_path / "etc")).replace(
        "/var/lib/edge-agent", str(tmp_path / "var")
    )
    (tmp_path / "etc" / "tls").mkdir(parents=True)
    for name in ("ca.crt", "client.crt", "client.key"):  # as provision installs them
        (tmp_path / "etc" / "tls" / name).write_text("x")
        os.chmod(tmp_path / "etc" / "tls" / name, 0o600)
    (tmp_path / "var" / "models").mkdir(parents=True)  # the example's cameras need the model
    (tmp_path / "var" / "models" / "yolox_nano.onnx").symlink_to(
        shared_dir / "models" / "yolox_nano.onnx"
    )
    deploy = tmp_path / "deploy.yaml"
    deploy.write_text(text)
    assert main(["config", "check", str(deploy)]) == 0, capsys.readouterr().err
    examples = sorted((REPO / "examples").glob("*.yaml"))
    assert examples
    for example in examples:
        fragment = example.read_text().replace(
            "../shared/models/yolox_nano.onnx", str(shared_dir / "models" / "yolox_nano.onnx")
        )
        doc = {**base(tmp_path), **yaml.safe_load(fragment)}
        path = write(tmp_path, doc)
        assert main(["config", "check", str(path)]) == 0, (example, capsys.readouterr().err)
