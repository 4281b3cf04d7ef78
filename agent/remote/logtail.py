"""The last log lines for remote ``logs.tail``, redacted when they are captured.

A bounded ring (a ``logging.Handler`` on the root logger while the agent runs) keeps the
newest lines, formatted as journald shows them but with a UTC timestamp. Redaction happens
in ``emit``, before a line is stored, so a secret never sits in memory waiting for a
request, and one place decides what is masked:

* the secret values of the live config (``SecretStr`` fields such as ``mqtt.password``,
  passwords in camera source URLs), wherever they appear in a message;
* ``name=value`` / ``name: value`` for password, secret, token, api key, passphrase and
  private key;
* credentials in URLs (``scheme://user:pass@host``);
* PEM private-key blocks, and anything after a lone ``BEGIN ... PRIVATE KEY`` line.

Footgun named in ../shared/research/anchors-gateways.md §8.4: a remote log tail is a
secret leak unless masking is applied to every line, not to the lines someone thought of.
"""

from __future__ import annotations

import collections
import logging
import re
import threading
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretBytes, SecretStr

MASK = "***"
_MIN_SECRET_LEN = 4  # shorter "secrets" would mask half of every line and protect nothing

_PEM_BLOCK = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
    re.DOTALL,
)
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]+@")
_NAMED = re.compile(
    r"(?P<name>\b[\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|passphrase|"
    r"private[_-]?key)[\w.-]*)(?P<sep>[\"']?\s*[:=]\s*)(?P<q>[\"']?)[^\s\"',;}&]+",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")


class Redactor:
    """Masks secrets in text (see the module docstring for what counts)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._known: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Mask these too (a config.apply brought new ones; the old ones stay masked)."""
        known = set(self._known) | {s for s in secrets if len(s) >= _MIN_SECRET_LEN}
        # Longest first, so a secret containing another is masked whole.
        self._known = sorted(known, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._known:
            text = text.replace(secret, MASK)
        text = _PEM_BLOCK.sub("[private key redacted]", text)
        text = _URL_USERINFO.sub(rf"\g<scheme>{MASK}@", text)
        text = _NAMED.sub(rf"\g<name>\g<sep>\g<q>{MASK}", text)
        return _BEARER.sub(rf"\1 {MASK}", text)


def config_secrets(model: BaseModel) -> list[str]:
    """Every secret value in a config: ``SecretStr``/``SecretBytes`` fields and URL
    passwords (``rtsp://user:pass@cam``) in any string field, nested models included."""
    found: list[str] = []
    _collect(model, found)
    return found


def _collect(value: Any, found: list[str]) -> None:
    if isinstance(value, SecretStr):
        found.append(value.get_secret_value())
    elif isinstance(value, SecretBytes):
        found.append(value.get_secret_value().decode(errors="replace"))
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _collect(getattr(value, name), found)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect(item, found)
    elif isinstance(value, dict):
        for item in value.values():
            _collect(item, found)
    elif isinstance(value, str) and "://" in value and "@" in value:
        try:
            password = urlsplit(value).password
        except ValueError:
            return
        if password:
            found.append(password)


class _UtcFormatter(logging.Formatter):
    """RFC 3339 UTC times, marked ``Z``, like the events' ``time``."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        t = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{t}.{int(record.msecs):03d}Z"


class LogRing(logging.Handler):
    """The newest ``capacity`` log records as redacted lines (thread-safe: the outbox
    writer and capture threads log too)."""

    def __init__(self, capacity: int, redact: Redactor) -> None:
        super().__init__(logging.DEBUG)
        self._redact = redact
        self._lines: collections.deque[tuple[int, str]] = collections.deque(maxlen=capacity)
        self._ring_lock = threading.Lock()
        self.setFormatter(_UtcFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self._redact(self.format(record))
        except Exception:  # a log call must never fail because of us
            self.handleError(record)
            return
        with self._ring_lock:
            self._lines.append((record.levelno, line))

    def tail(self, lines: int, level: str = "DEBUG") -> list[str]:
        """The newest ``lines`` lines at ``level`` or above, oldest first."""
        floor = logging.getLevelName(level)
        with self._ring_lock:
            kept = [text for levelno, text in self._lines if levelno >= floor]
        return kept[-lines:]

    def attach(self, logger: logging.Logger | None = None) -> None:
        (logger or logging.getLogger()).addHandler(self)

    def detach(self, logger: logging.Logger | None = None) -> None:
        (logger or logging.getLogger()).removeHandler(self)
