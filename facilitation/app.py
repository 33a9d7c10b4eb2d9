"""``create_app(settings)``: the routes table, middleware, errors, and the lifespan."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from facilitation import config
from facilitation.assets import STATIC
from facilitation.domain import DomainError
from facilitation.i18n import N_
from facilitation.render import Renderer
from facilitation.services import STORE_FAILURES, Services
from facilitation.web import (
    api,
    create,
    errors,
    followup_pages,
    language,
    moderate,
    moderation_api,
    openapi,
    pages,
    plenary,
    texts,
    tokens,
    votes,
)
from facilitation.web import followup as followup_api
from facilitation.web import outcomes as outcomes_web
from facilitation.web.guards import BodyLimit, SameOriginWrites, TokenLinks, WriteLimit
from facilitation.web.handling import page
from facilitation.web.turns import SocketTurns

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("facilitation")

# Scripts only from our own origin: no inline script, no eval (htmx is told the
# same through its config). Styles likewise. Frames and plugins never.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    # Token links must never leak to other sites through the Referer header.
    # ("no-referrer" would also make browsers send "Origin: null" on our own form
    # posts, which the CSRF check must then refuse.)
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                # A response may set its own stricter policy (the printable report does).
                own = {name for name, _ in message["headers"]}
                message["headers"] = list(message["headers"]) + [
                    h for h in SECURITY_HEADERS if h[0] not in own]
                if scope["path"].startswith(("/e/", "/api/")):
                    message["headers"].append((b"cache-control", b"no-store"))
            await send(message)

        await self.app(scope, receive, with_headers)


TITLES = {
    400: N_("That request did not make sense"),
    401: N_("This page needs your link"),
    403: N_("Your link does not open this"),
    404: N_("Nothing here"),
    405: N_("Not allowed"),
    409: N_("Someone else got there first"),
    413: N_("That was too much at once"),
    422: N_("Something is missing"),
    423: N_("This room is closed"),
    429: N_("Slow down a little"),
    500: N_("Something broke on our side"),
    503: N_("Saving is paused for a moment"),
}


def wants_json(conn: HTTPConnection) -> bool:
    return conn.url.path.startswith("/api/") or conn.url.path == "/healthz"


async def http_error(conn: HTTPConnection, exc: Exception) -> Response | None:
    """Every error's answer: an HTTP error of the web layer, a domain error of any layer
    below it (``errors.from_domain``), or one of Starlette's own (no route, no method)."""
    if isinstance(exc, DomainError):
        exc = errors.from_domain(exc)
    if isinstance(exc, HTTPException) and not isinstance(exc, errors.HTTPError):
        known = {404: errors.NotFound, 405: errors.MethodNotAllowed}
        exc = known.get(exc.status_code, errors.BadRequest)(headers=dict(exc.headers or {}))
    assert isinstance(exc, errors.HTTPError)
    if conn.scope["type"] == "websocket":
        # Refused before accept: an HTTP answer where the server supports it.
        websocket = WebSocket(conn.scope, conn.receive, conn._send)  # type: ignore[attr-defined]
        try:
            await websocket.send_denial_response(
                JSONResponse(exc.body(), status_code=exc.status))
        except RuntimeError:
            await websocket.close(code=1008, reason=exc.code)
        return None
    if wants_json(conn):
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)
    request = Request(conn.scope)
    services: Services = conn.app.state.services
    if request.headers.get("hx-request") == "true":
        toast = services.renderer.render("partials/toast.html", message=exc.message, kind="error")
        # Only the out-of-band toast is shown: the request's own target keeps
        # what it had (a form is not emptied by a 413 or a 429).
        headers = {**exc.headers, "HX-Reswap": "none"}
        return HTMLResponse(toast, status_code=exc.status, headers=headers)
    answer = page(
        request, "error.html",
        {"status": exc.status, "title": TITLES.get(exc.status, N_("Something went wrong")),
         "message": exc.message, "hint": None},
        status=exc.status,
    )
    answer.headers.update(exc.headers)
    return answer


async def store_error(conn: HTTPConnection, exc: Exception) -> Response | None:
    """A store failure that escaped the services' guards (a full disk under a read of
    tokens, a Redis error mid-request): 503 "nothing was saved", never a 500."""
    log.warning("store failure on %s: %r", conn.url.path, exc)
    return await http_error(conn, errors.ServiceUnavailable())


async def server_error(conn: HTTPConnection, exc: Exception) -> Response | None:
    log.exception("unhandled error on %s", conn.url.path, exc_info=exc)
    response = await http_error(conn, errors.HTTPError())
    if response is not None:
        # This answer leaves by Starlette's outermost layer, past SecurityHeaders.
        for name, value in SECURITY_HEADERS:
            response.headers.setdefault(name.decode(), value.decode())
    return response


async def home(request: Request) -> Response:
    return page(request, "home.html", {})


def create_app(settings: config.Settings | None = None) -> Starlette:
    settings = settings or config.with_secrets(config.from_environ())[0]
    renderer = Renderer()
    services = Services.build(settings, renderer)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await services.start()
        try:
            yield
        finally:
            await services.stop()

    routes = [
        Route("/", home),
        *api.routes(),
        *outcomes_web.routes(),
        *followup_api.routes(),
        *followup_pages.routes(),
        *pages.routes(),
        *moderation_api.routes(),
        *plenary.routes(),
        *moderate.routes(),
        *texts.routes(),
        *votes.routes(),
        *tokens.routes(),
        *language.routes(),
        *create.routes(),
        *openapi.routes(),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [
        # First: a reconnect storm's handshakes take turns with writes (web/turns.py).
        Middleware(SocketTurns),
        Middleware(SecurityHeaders),
        Middleware(BodyLimit, limit=settings.max_body_bytes),
        Middleware(
            SessionMiddleware,
            secret_key=settings.secret_key,
            session_cookie="facilitation_session",
            max_age=14 * 24 * 3600,
            same_site="lax",
            https_only=settings.cookie_secure,
        ),
        # An opened token link becomes a session grant before any page runs.
        Middleware(TokenLinks, on_error=http_error),
        # Writes from other sites are refused before they count or run; inside the
        # session, writes are counted per browser session and per token.
        Middleware(SameOriginWrites, settings=settings, on_error=http_error),
        Middleware(WriteLimit, limits=services.limits, on_error=http_error),
    ]
    handlers: dict[Any, Any] = {
        errors.HTTPError: http_error,
        DomainError: http_error,
        HTTPException: http_error,
        **dict.fromkeys(STORE_FAILURES, store_error),
        Exception: server_error,
    }
    app = Starlette(routes=routes, middleware=middleware, exception_handlers=handlers,
                    lifespan=lifespan)
    app.state.services = services
    app.state.settings = settings
    return app


def app_from_env() -> Starlette:
    """The uvicorn factory: ``uvicorn --factory facilitation.app:app_from_env``."""
    app = create_app()
    tune_garbage_collector()
    return app


# Young-generation size for the cyclic garbage collector (CPython's default is 700).
GC_YOUNG_THRESHOLD = 10_000


def tune_garbage_collector() -> None:
    """Fewer, cheaper collections for a server process.

    Every board stays in memory, so the oldest generation grows with the event
    (tens of thousands of entries). With CPython's default thresholds, requests
    still in flight at each of the frequent young collections were promoted,
    and the oldest generation was collected every second or two under load:
    each full pass took 70-85 ms, which set the p99 of every acknowledgement
    (ingest at 2,000 submits/s: p99 61 ms; with this, 15 ms; benchmarks/README).
    The code and templates loaded at start-up are frozen: never scanned again.
    """
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)
