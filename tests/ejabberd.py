"""A second MQTT v5 broker implementation for interop tests: ejabberd's ``mod_mqtt``.

issue 16 item 2: the no-loss end-to-end test must also pass against a broker other than
Mosquitto, so the agent depends on the MQTT v5 standard and not on one broker's quirks.
ejabberd (Debian package ``ejabberd``, Erlang) is a wholly separate implementation.

Each instance runs in the foreground under its own Erlang node name, config, spool and
log directories, on a free loopback port, and is started and stopped by the test.
ejabberd authenticates every MQTT client; the ``anonymous`` backend with
``login_anon`` accepts any user name, so clients pass one (the agent's
``mqtt.username``). The ``ejabberdctl`` script switches to the ``ejabberd`` user when
run as root, so the directories are made readable by it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.broker import free_port, wait_port, wait_port_closed

CTL = "/usr/sbin/ejabberdctl"
# Any name and any non-empty password: the anonymous backend accepts them (an empty
# password is refused). Each client needs its own name: when the last session of an
# anonymous user closes, ejabberd removes the user and closes its other sessions too,
# so a platform sharing the agent's name is disconnected whenever the agent is killed.
USERNAME = "edge"
PLATFORM_USERNAME = "platform"
PASSWORD = "anonymous"


def available() -> str | None:
    """None when ejabberd can be run here, else why not."""
    if not Path(CTL).exists():
        return "ejabberd is not installed (Debian package ejabberd; deploy/dev-setup.sh)"
    if os.geteuid() != 0:
        return "ejabberdctl runs only as root or as the ejabberd user"
    return None


@dataclass
class Ejabberd:
    port: int = field(default_factory=free_port)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ejabberd-")))
    proc: subprocess.Popen[bytes] | None = None

    def _config(self) -> Path:
        conf = self.workdir / "ejabberd.yml"
        conf.write_text(
            "\n".join(
                [
                    'hosts: ["localhost"]',
                    "loglevel: info",
                    "auth_method: [anonymous]",
                    "anonymous_protocol: login_anon",
                    "listen:",
                    f"  - port: {self.port}",
                    '    ip: "127.0.0.1"',
                    "    module: mod_mqtt",
                    "    backlog: 1000",
                    "modules:",
                    "  mod_mqtt: {}",
                    "",
                ]
            )
        )
        # Our own ctl config: the packaged one points at /etc/ejabberd/ejabberd.yml.
        (self.workdir / "ctl.cfg").write_text('ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0"\n')
        for sub in ("logs", "spool"):
            (self.workdir / sub).mkdir(exist_ok=True)
        owner = pwd.getpwnam("ejabberd")
        self.workdir.chmod(0o755)
        for path in [self.workdir, *self.workdir.rglob("*")]:
            os.chown(path, owner.pw_uid, owner.pw_gid)
        return conf

    def start(self) -> Ejabberd:
        conf = self._config()
        w = self.workdir
        cmd = [CTL, "--node", f"edge{self.port}@localhost", "--ctl-config", str(w / "ctl.cfg")]
        cmd += ["--config", str(conf), "--logs", str(w / "logs"), "--spool", str(w / "spool")]
        out = (w / "console.log").open("ab")
        self.proc = subprocess.Popen(
            [*cmd, "foreground"], stdout=out, stderr=out, start_new_session=True
        )
        # The Erlang VM takes a few seconds; a node that cannot start exits.
        wait_port(self.port, timeout=60, proc=self.proc)
        return self

    def _node_pids(self) -> list[int]:
        """The Erlang VM of this instance. ``ejabberdctl`` runs it through ``su``, which
        gives it a session of its own: a signal to the script's process group never
        reaches it (the script exits, the broker runs on)."""
        out = subprocess.run(
            ["pgrep", "-f", f"edge{self.port}@localhost"], capture_output=True, text=True
        ).stdout
        return [int(pid) for pid in out.split()]

    def stop(self) -> None:
        """Stop the broker and return only once its VM is gone and the port is closed."""
        pids = self._node_pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)  # the VM shuts down on SIGTERM (OTP >= 19)
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while self._node_pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in self._node_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.proc is not None:
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        wait_port_closed(self.port, timeout=20)
        self.proc = None

    def log_text(self) -> str:
        path = self.workdir / "logs" / "ejabberd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
