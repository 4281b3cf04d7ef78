"""Console authentication: the slow password hash, sessions, CSRF tokens and the login limit.

Standard library only (no web framework here), so ``edge-agent console passwd`` and the tests
use it without the ``console`` extra.

* The password is stored as an scrypt hash (``hashlib.scrypt``, n=2**14, r=8, p=1, a 16-byte
  random salt: OWASP's minimum for scrypt), written ``scrypt$n$r$p$salt$hash`` in base64,
  never the password itself. Verification compares in constant time.
* A session is a random 32-byte token in an HttpOnly, SameSite=Strict cookie; each session
  has its own CSRF token that every change (any method but GET/HEAD) must echo in the
  ``X-CSRF-Token`` header. Sessions live in memory: a restarted agent logs everyone out.
* Logins are limited per client address: after 5 wrong passwords within 60 s, further
  attempts are refused (HTTP 429) without checking the password until the window passes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_SCRYPT_MAXMEM = 64 * 1024 * 1024
MAX_FAILURES = 5  # the 6th wrong password within the window is throttled
FAILURE_WINDOW_S = 60.0
_MAX_SESSIONS = 64


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """The ``scrypt$n$r$p$salt$hash`` string for ``password``."""
    if not password:
        raise ValueError("the password must not be empty")
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=_SCRYPT_MAXMEM
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (False for a malformed hash)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest, validate=True)
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt, validate=True),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=_SCRYPT_MAXMEM,
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def looks_like_hash(text: str) -> bool:
    parts = text.split("$")
    return len(parts) == 6 and parts[0] == "scrypt" and all(parts[1:])


@dataclass
class Session:
    token: str
    csrf: str
    expires: float


@dataclass
class Sessions:
    """Live sessions by token; expired ones are dropped when looked at."""

    ttl_s: float
    clock: Callable[[], float] = time.monotonic
    _by_token: dict[str, Session] = field(default_factory=dict)

    def create(self) -> Session:
        now = self.clock()
        self._by_token = {t: s for t, s in self._by_token.items() if s.expires > now}
        if len(self._by_token) >= _MAX_SESSIONS:  # the oldest goes
            oldest = min(self._by_token.values(), key=lambda s: s.expires)
            del self._by_token[oldest.token]
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), now + self.ttl_s)
        self._by_token[session.token] = session
        return session

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        session = self._by_token.get(token)
        if session is None:
            return None
        if session.expires <= self.clock():
            del self._by_token[token]
            return None
        return session

    def end(self, token: str | None) -> None:
        if token:
            self._by_token.pop(token, None)

    def csrf_ok(self, session: Session, sent: str | None) -> bool:
        return sent is not None and hmac.compare_digest(session.csrf, sent)


@dataclass
class LoginLimiter:
    """Wrong passwords per client address in a sliding window."""

    max_failures: int = MAX_FAILURES
    window_s: float = FAILURE_WINDOW_S
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, client: str) -> deque[float]:
        now = self.clock()
        q = self._failures.setdefault(client, deque())
        while q and now - q[0] >= self.window_s:
            q.popleft()
        return q

    def retry_after(self, client: str) -> float:
        """0 when ``client`` may try a password now, else seconds until it may."""
        q = self._recent(client)
        if len(q) < self.max_failures:
            if not q:
                self._failures.pop(client, None)
            return 0.0
        return max(0.1, self.window_s - (self.clock() - q[0]))

    def failed(self, client: str) -> None:
        self._recent(client).append(self.clock())
        if len(self._failures) > 1024:  # bounded under a scan from many addresses
            self._failures.pop(next(iter(self._failures)))

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)
