"""The retained birth message must not be a password-guessing oracle (issue 9)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from agent.config import load_config
from agent.gateway_events import config_fingerprint
from tests.spine.agentproc import write_config


def _loaded(tmp_path: Path, name: str, password: str):  # type: ignore[no-untyped-def]
    mqtt = {"host": "127.0.0.1", "port": 1883, "insecure": True, "password": password}
    path = write_config(tmp_path / name, port=1883, buffer=tmp_path / "b.db", drivers=[], mqtt=mqtt)
    return load_config(path, check_files=False)


def test_config_fingerprint_ignores_secrets(tmp_path: Path) -> None:
    a = _loaded(tmp_path, "a.yaml", "hunter2")
    b = _loaded(tmp_path, "b.yaml", "correct horse battery staple")
    fa, fb = config_fingerprint(a.config), config_fingerprint(b.config)
    assert fa == fb  # the password does not change (so cannot be guessed from) the hash
    raw = (tmp_path / "a.yaml").read_bytes()
    assert fa != hashlib.sha256(raw).hexdigest()
    # Everything else still counts.
    c = load_config(
        write_config(tmp_path / "c.yaml", port=1884, buffer=tmp_path / "b.db", drivers=[]),
        check_files=False,
    )
    assert config_fingerprint(c.config) != fa
