"""The console's web server: aiohttp in the agent's own event loop (the only aiohttp importer).

Loaded by agent/app.py through importlib only when ``console:`` is configured, so a gateway
without it never imports aiohttp. One :class:`Console` serves the pages (static HTML, CSS
and JavaScript from ``static/``, nothing from a CDN), the JSON API the pages read, the
camera frames and evidence images, and one server-sent-events stream per open page.

Security (docs/console.md): every page, API and image needs a session except the login page,
its script and style and ``POST /api/login``; the session cookie is HttpOnly and
SameSite=Strict (and Secure over TLS); every request that is not GET/HEAD must carry the
session's CSRF token in ``X-CSRF-Token``; logins are limited per address
(agent/console/auth.py); responses carry a strict Content-Security-Policy. Every login,
logout and save is an event (agent/console/change.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from agent.config_model import ConsoleConfig
from agent.console import views
from agent.console.auth import LoginLimiter, Session, Sessions, verify_password
from agent.console.change import ConsoleChange, Outcome, change_event
from agent.console.tap import EventTap
from agent.console.zones import check_zones, with_zones
from agent.staged_apply import ApplyResult

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
COOKIE = "edge_console"
PAGES = ("gateway", "elevators", "cameras", "zones", "residents")
_PUBLIC = frozenset({"/login", "/api/login", "/static/login.js", "/static/app.css",
                     "/static/i18n.js"})  # fmt: skip
_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_STREAM_MIN_GAP_S = 1.0  # at most one push per second per browser
_KEEPALIVE_S = 20.0
SESSION: web.RequestKey[Session] = web.RequestKey("session", Session)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _client(request: web.Request) -> str:
    return request.remote or "unknown"


def _json(doc: Any, status: int = 200) -> web.Response:
    return web.json_response(doc, status=status, dumps=lambda d: json.dumps(d, default=str))


def _outcome(result: ApplyResult) -> Outcome:
    if result.ok:
        return "applied"
    if result.rolled_back:
        return "rolled_back"
    return "invalid" if result.stage == "validate" else "refused"


class Console:
    """The running console; ``start`` binds the listener, ``stop`` closes it."""

    def __init__(self, agent: views.AgentLike, tap: EventTap, config: ConsoleConfig,
                 tls: tuple[Path, Path] | None = None) -> None:  # fmt: skip
        self._agent = agent
        self._tap = tap
        self._config = config
        self._tls = tls
        self.sessions = Sessions(config.session_ttl_s)
        self.limiter = LoginLimiter()
        self._runner: web.AppRunner | None = None
        self._source = f"/edge/{agent.gateway_id}/console"

    # -- lifecycle -----------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard], client_max_size=1024 * 1024)
        r = app.router
        r.add_get("/login", self._login_page)
        r.add_get("/", self._index)
        for page in PAGES:
            r.add_get(f"/{page}", self._index)
        r.add_post("/api/login", self._login)
        r.add_post("/api/logout", self._logout)
        r.add_get("/api/session", self._session)
        r.add_get("/api/gateway", self._gateway)
        r.add_get("/api/elevators", self._elevators)
        r.add_get("/api/cameras", self._cameras)
        r.add_get("/api/residents", self._residents)
        r.add_get("/api/cameras/{name}/frame.jpg", self._frame)
        r.add_put("/api/cameras/{name}/zones", self._save_zones)
        r.add_get("/api/evidence/{violation}/{index:\\d+}.jpg", self._evidence)
        r.add_get("/api/stream", self._stream)
        r.add_static("/static", STATIC, show_index=False, follow_symlinks=False)
        return app

    async def start(self) -> None:
        host, port = self._config.host_port
        context = None
        if self._tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.load_cert_chain(str(self._tls[0]), str(self._tls[1]))
        self._runner = web.AppRunner(self.make_app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port, ssl_context=context).start()
        scheme = "https" if context else "http"
        log.info("console on %s://%s:%d", scheme, host, port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- guard: sessions, CSRF, headers --------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path not in _PUBLIC:
            session = self.sessions.get(request.cookies.get(COOKIE))
            if session is None:
                if path.startswith("/api/") or path.startswith("/static/"):
                    return self._headers(_json({"error": "login required"}, 401))
                return self._headers(web.Response(status=302, headers={"Location": "/login"}))
            if request.method not in ("GET", "HEAD") and not self.sessions.csrf_ok(
                session, request.headers.get("X-CSRF-Token")
            ):
                return self._headers(_json({"error": "missing or wrong CSRF token"}, 403))
            request[SESSION] = session
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # 404/405 from the router: same headers, re-raised
            self._headers(exc)
            raise
        return self._headers(response)

    def _headers(self, response: web.StreamResponse) -> web.StreamResponse:
        if not response.prepared:
            h = response.headers
            h["Content-Security-Policy"] = _CSP
            h["X-Content-Type-Options"] = "nosniff"
            h["X-Frame-Options"] = "DENY"
            h["Referrer-Policy"] = "no-referrer"
            h.setdefault("Cache-Control", "no-store")
        return response

    def _same_origin(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        return origin is None or origin == f"{request.scheme}://{request.host}"

    # -- login ---------------------------------------------------------------------------

    async def _login_page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "login.html")

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html")

    async def _record(self, change: ConsoleChange) -> None:
        try:
            await self._agent.sink.emit(change_event(change, self._source))
        except Exception as exc:  # the change happened; only its record failed
            log.error("could not record console %s: %s", change.action, exc)

    async def _login(self, request: web.Request) -> web.StreamResponse:
        client = _client(request)
        if request.content_type != "application/json" or not self._same_origin(request):
            return _json({"error": "login must come from the console's own page"}, 403)
        wait = self.limiter.retry_after(client)
        if wait > 0:
            return web.json_response({"error": "too many wrong passwords; wait", "retry_after_s":
                                      round(wait)}, status=429,
                                     headers={"Retry-After": str(max(1, round(wait)))})  # fmt: skip
        stored = self._config.password_hash
        if stored is None:
            return _json({"error": "no console password set: run edge-agent console passwd"}, 503)
        try:
            body = await request.json()
            password = str(body.get("password", "")) if isinstance(body, dict) else ""
        except ValueError:
            password = ""
        ok = bool(password) and await asyncio.to_thread(
            verify_password, password, stored.get_secret_value()
        )
        if not ok:
            self.limiter.failed(client)
            log.warning("console login refused for %s", client)
            await self._record(ConsoleChange(action="login", outcome="refused", client=client))
            return _json({"error": "wrong password"}, 401)
        self.limiter.succeeded(client)
        session = self.sessions.create()
        await self._record(ConsoleChange(action="login", outcome="ok", client=client))
        response = _json({"ok": True, "csrf": session.csrf})
        response.set_cookie(COOKIE, session.token, httponly=True, samesite="Strict",
                            secure=self._tls is not None, path="/",
                            max_age=int(self._config.session_ttl_s))  # fmt: skip
        return response

    async def _logout(self, request: web.Request) -> web.StreamResponse:
        self.sessions.end(request.cookies.get(COOKIE))
        await self._record(ConsoleChange(action="logout", outcome="ok", client=_client(request)))
        response = _json({"ok": True})
        response.del_cookie(COOKIE, path="/")
        return response

    async def _session(self, request: web.Request) -> web.StreamResponse:
        agent = self._agent
        return _json({"csrf": request[SESSION].csrf, "gateway_id": agent.gateway_id,
                      "cameras": views.has_cameras(agent.supervisor)})  # fmt: skip

    # -- data ----------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        return _json(await views.gateway_view(self._agent, self._tap))

    async def _elevators(self, request: web.Request) -> web.StreamResponse:
        return _json(views.elevators_view(self._tap))

    async def _cameras(self, request: web.Request) -> web.StreamResponse:
        return _json(views.cameras_view(self._agent, self._tap))

    async def _residents(self, request: web.Request) -> web.StreamResponse:
        return _json(views.residents_view(self._agent, self._tap))

    async def _frame(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if views.camera_driver(self._agent.supervisor, name) is None:
            return _json({"error": f"no running camera {name!r}"}, 404)
        jpeg = await asyncio.to_thread(views.frame_jpeg, self._agent, name)
        if jpeg is None:
            return _json({"error": "no frame yet"}, 503)
        return web.Response(body=jpeg, content_type="image/jpeg")

    async def _evidence(self, request: web.Request) -> web.StreamResponse:
        jpeg = views.evidence_jpeg(
            self._tap, request.match_info["violation"], int(request.match_info["index"])
        )
        if jpeg is None:
            return _json({"error": "no such evidence"}, 404)
        return web.Response(body=jpeg, content_type="image/jpeg")

    # -- zone editor ---------------------------------------------------------------------

    async def _save_zones(self, request: web.Request) -> web.StreamResponse:
        name, client = request.match_info["name"], _client(request)
        staged = self._agent.staged
        try:
            body = await request.json()
        except ValueError:
            return _json({"error": "the body must be JSON"}, 400)
        zones, errors = check_zones(body.get("zones") if isinstance(body, dict) else None)
        if errors:
            return _json({"ok": False, "errors": errors}, 422)
        try:
            text = with_zones(staged.text, name, zones)
        except KeyError:
            return _json({"error": f"no camera {name!r} in the config"}, 404)
        result = await staged.apply(text, health_s=self._config.apply_health_s)
        outcome = _outcome(result)
        detail = result.reason + ("; " + "; ".join(result.problems) if result.problems else "")
        await self._record(ConsoleChange(
            action="zones.save", outcome=outcome, client=client, target=f"camera:{name}",
            detail=detail[:500], config_sha256=result.sha256,
            previous_sha256=result.previous_sha256,
        ))  # fmt: skip
        return _json({"ok": result.ok, "result": result.as_dict()}, 200 if result.ok else 409)

    # -- live updates --------------------------------------------------------------------

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-store"})  # fmt: skip
        self._headers(response)
        await response.prepare(request)
        flag = self._tap.listen()
        seen = -1
        try:
            while True:
                try:
                    async with asyncio.timeout(_KEEPALIVE_S):
                        await flag.wait()
                except TimeoutError:
                    await response.write(b": keepalive\n\n")
                    continue
                flag.clear()
                if self._tap.version != seen:
                    seen = self._tap.version
                    await response.write(f"event: change\ndata: {seen}\n\n".encode())
                await asyncio.sleep(_STREAM_MIN_GAP_S)
        except ConnectionResetError:
            pass  # the browser went away; cancellation of the handler propagates
        finally:
            self._tap.unlisten(flag)
        return response
