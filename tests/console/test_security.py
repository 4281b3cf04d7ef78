"""Console security against a real agent: sessions, CSRF, the login limit, no secrets out, TLS.

Every request and response of the module is recorded, so the last test can assert that
neither the password nor its hash ever left the agent (responses, its log, its events at
the broker). The throttling test runs last but one: it locks 127.0.0.1 out for a minute.
"""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.broker import Mosquitto, Subscriber
from tests.console.stack import PASSWORD, ConsoleAgent, login, request, start_console_agent
from tests.spine.agentproc import synthetic, wait_for
from tests.spine.test_tls import make_pki

SEEN: list[bytes] = []

PAGES = ["/", "/gateway", "/elevators", "/cameras", "/zones", "/residents"]
APIS = [
    ("GET", "/api/session"), ("GET", "/api/gateway"), ("GET", "/api/elevators"),
    ("GET", "/api/cameras"), ("GET", "/api/residents"), ("GET", "/api/stream"),
    ("GET", "/api/cameras/cam1/frame.jpg"), ("GET", "/api/evidence/x/0.jpg"),
    ("PUT", "/api/cameras/cam1/zones"), ("POST", "/api/logout"), ("GET", "/static/app.js"),
    ("GET", "/static/zones.js"), ("GET", "/static/index.html"),
]  # fmt: skip


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ConsoleAgent, Subscriber]]:
    tmp = tmp_path_factory.mktemp("console-security")
    broker = Mosquitto(tmp).start()
    sub = Subscriber(broker.port)
    ca = start_console_agent(tmp, broker.port, [synthetic(0, 1)])
    try:
        yield ca, sub
    finally:
        ca.stop()
        sub.close()
        broker.stop()


def _raw(base: str, method: str, path: str, headers: dict[str, str] | None = None,
         body: Any = None) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    """No redirects followed: a page's 302 to /login is what we want to see."""
    host = base.removeprefix("http://")
    conn = http.client.HTTPConnection(host, timeout=30)
    data = None if body is None else json.dumps(body)
    hdrs = dict(headers or {})
    if body is not None:
        hdrs["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=hdrs)
    r = conn.getresponse()
    out = r.status, dict(r.getheaders()), r.read()
    conn.close()
    SEEN.append(json.dumps(out[1]).encode() + out[2])
    return out


def test_every_page_and_api_refuses_without_a_session(
    stack: tuple[ConsoleAgent, Subscriber],
) -> None:
    base = stack[0].base
    for cookie in (None, "edge_console=forged-token"):
        headers = {"Cookie": cookie} if cookie else {}
        for page in PAGES:
            status, hdrs, _ = _raw(base, "GET", page, headers)
            assert status == 302 and hdrs["Location"] == "/login", page
        for method, path in APIS:
            status, _, body = _raw(base, method, path, headers, {} if method != "GET" else None)
            assert status == 401, (method, path, status)
            assert b"login required" in body
    status, hdrs, body = _raw(base, "GET", "/login")
    assert status == 200 and b"login-form" in body
    assert "script-src 'self'" in hdrs["Content-Security-Policy"]


def test_login_sets_a_strict_httponly_cookie_and_a_foreign_origin_is_refused(
    stack: tuple[ConsoleAgent, Subscriber],
) -> None:
    base = stack[0].base
    status, hdrs, body = _raw(base, "POST", "/api/login", body={"password": PASSWORD})
    assert status == 200
    cookie = hdrs["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "csrf" in json.loads(body)
    status, _, _ = _raw(base, "POST", "/api/login", {"Origin": "http://evil.example"},
                        {"password": PASSWORD})  # fmt: skip
    assert status == 403


def test_a_change_without_the_csrf_token_is_refused(stack: tuple[ConsoleAgent, Subscriber]) -> None:
    base = stack[0].base
    cookie, csrf = login(base)
    zones = {"zones": [{"id": "z", "kind": "corridor", "grace_s": 5,
                        "polygon": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]}]}  # fmt: skip
    for headers in ({"Cookie": cookie}, {"Cookie": cookie, "X-CSRF-Token": "wrong"}):
        status, _, body = _raw(base, "PUT", "/api/cameras/cam1/zones", headers, zones)
        assert status == 403 and b"CSRF" in body
        status, _, _ = _raw(base, "POST", "/api/logout", headers, {})
        assert status == 403
    status, _, body = _raw(base, "GET", "/api/gateway", {"Cookie": cookie})
    assert status == 200 and json.loads(body)["gateway_id"] == "gw-0001"
    status, _, _ = _raw(base, "POST", "/api/logout", {"Cookie": cookie, "X-CSRF-Token": csrf}, {})
    assert status == 200
    status, _, _ = _raw(base, "GET", "/api/gateway", {"Cookie": cookie})
    assert status == 401  # the session ended with the logout


def test_the_sixth_wrong_password_in_a_minute_is_throttled(
    stack: tuple[ConsoleAgent, Subscriber],
) -> None:
    base = stack[0].base
    for i in range(5):
        status, _, _ = _raw(base, "POST", "/api/login", body={"password": f"wrong-{i}"})
        assert status == 401, i
    status, hdrs, _ = _raw(base, "POST", "/api/login", body={"password": "wrong-5"})
    assert status == 429 and int(hdrs["Retry-After"]) > 0
    # Throttled means not even the right password is checked until the window passes.
    status, _, _ = _raw(base, "POST", "/api/login", body={"password": PASSWORD})
    assert status == 429


def test_the_password_and_its_hash_are_in_no_response_log_or_event(
    stack: tuple[ConsoleAgent, Subscriber],
) -> None:
    ca, sub = stack
    stored = yaml.safe_load(ca.config.read_text())["console"]["password_hash"]
    salt, digest = stored.split("$")[4:]
    # Every login and logout of this module is an event at the broker: 2 logins, 5 wrong
    # passwords, 1 logout (a foreign origin and throttled attempts are refused unrecorded).
    assert wait_for(lambda: len([e for e in sub.events()
                                 if e["type"] == "gateway.console.change"]) >= 8, 30)  # fmt: skip
    changes = [e for e in sub.events() if e["type"] == "gateway.console.change"]
    assert {(e["data"]["action"], e["data"]["outcome"]) for e in changes} >= {
        ("login", "ok"), ("login", "refused"), ("logout", "ok")}  # fmt: skip
    texts = [*SEEN, ca.agent.log().encode(), *(p for _, p, _ in sub.messages)]
    for secret in (PASSWORD, stored, salt, digest):
        assert not any(secret.encode() in t for t in texts), secret[:8]


def test_console_over_tls_with_the_gateways_certificate(tmp_path: Path) -> None:
    make_pki(tmp_path)
    broker = Mosquitto(tmp_path).start()
    context = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
    context.check_hostname = False  # the gateway's certificate names the gateway id
    ca = start_console_agent(tmp_path, broker.port, [synthetic(0, 1)], tls=context,
                             cert=str(tmp_path / "client.crt"),
                             key=str(tmp_path / "client.key"))  # fmt: skip
    try:
        req = urllib.request.Request(ca.base + "/api/login", method="POST",
                                     data=json.dumps({"password": PASSWORD}).encode(),
                                     headers={"Content-Type": "application/json"})  # fmt: skip
        with urllib.request.urlopen(req, context=context, timeout=30) as r:
            assert r.status == 200
            cookie = r.headers["Set-Cookie"]
            assert "Secure" in cookie and "HttpOnly" in cookie
        plain = ca.base.replace("https://", "http://")
        with pytest.raises(OSError):  # no plaintext beside it
            request(plain, "/login")
    finally:
        ca.stop()
        broker.stop()
