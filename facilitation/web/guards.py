"""The request guards: every middleware that may refuse a request before a handler runs.

They guard every route, including those added later, and are listed in ``app.py``
in the order they run: the body size limit (``BodyLimit``), token links traded
for a session (``TokenLinks``), the CSRF check of cookie-authorised writes
(``SameOriginWrites``) and the write rates (``WriteLimit``). Who may do what once
a request is through is ``web.handling.authorise``'s business.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection, Request
from starlette.responses import RedirectResponse

from facilitation.access import TOKEN_PARAM, fingerprint, match_token
from facilitation.domain import DomainError
from facilitation.web.errors import (
    Forbidden,
    HTTPError,
    PayloadTooLarge,
    TooManyRequests,
    Unauthorized,
)
from facilitation.web.security import (
    bearer,
    ensure_sid,
    origin_allowed,
    remember_grant,
    session_grants,
    session_id,
)

if TYPE_CHECKING:
    from starlette.responses import Response
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from facilitation.config import Settings
    from facilitation.limits import Limits

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class BodyLimit:
    """Refuse request bodies over the limit, whether or not they say their length."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.limit:
                    scope.setdefault("state", {})["too_large"] = True
        received = 0

        async def limited() -> Message:
            nonlocal received
            if scope.get("state", {}).get("too_large"):
                raise PayloadTooLarge(f"The request body is larger than {self.limit // 1024} KiB.")
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise PayloadTooLarge(
                        f"The request body is larger than {self.limit // 1024} KiB."
                    )
            return message

        await self.app(scope, limited, send)


# How a middleware answers a refusal: the app's error handler (JSON under ``/api/``,
# a toast for htmx, a page otherwise). Middlewares run outside Starlette's own.
ErrorPage = Callable[[HTTPConnection, Exception], Awaitable["Response | None"]]
PAGE_IN_EVENT = re.compile(r"^/e/([^/]+)/")


class Guard:
    """A middleware that sees each HTTP request of its ``methods`` before the app does.

    ``check`` lets the request through (None), answers it itself (a response), or
    refuses it (an ``HTTPError``, or a ``DomainError`` of the services it asks, such as
    no such event: answered as the app answers every error, JSON under ``/api/``, a
    toast for htmx, a friendly page otherwise). Middlewares run outside Starlette's
    error handling, hence ``on_error``.
    """

    methods: frozenset[str] = WRITES

    def __init__(self, app: ASGIApp, on_error: ErrorPage) -> None:
        self.app = app
        self.on_error = on_error

    async def check(self, request: Request) -> Response | None:
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in self.methods:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            answer = await self.check(request)
        except (HTTPError, DomainError) as refused:
            answer = await self.on_error(request, refused)
            if answer is None:
                return
        if answer is None:
            await self.app(scope, receive, send)
        else:
            await answer(scope, receive, send)


class TokenLinks(Guard):
    """Trade the token of an opened link (``?t=``) for a session grant, then drop it
    from the address bar: the page is loaded again without it (303).

    Every page an invitation can point at is covered, including those added
    later; a link whose token is not (or no longer) valid gets a 401 page.
    """

    methods = frozenset({"GET"})

    async def check(self, request: Request) -> Response | None:
        found = PAGE_IN_EVENT.match(request.url.path)
        token = request.query_params.get(TOKEN_PARAM)
        if not found or token is None:
            return None
        event_id = found.group(1)
        secrets = await request.app.state.services.secrets(event_id)
        access = match_token(token, event_id, secrets)
        if access is None:
            raise Unauthorized("This link is not valid any more. Ask the organiser for a fresh one.")
        remember_grant(request, access, token)
        ensure_sid(request)
        query = request.url.remove_query_params(TOKEN_PARAM).query
        return RedirectResponse(request.url.path + (f"?{query}" if query else ""), status_code=303)


class SameOriginWrites(Guard):
    """The CSRF check of every write that a browser's cookie could authorise.

    A write with a bearer token cannot be forged by another site (a page cannot
    make a browser send one), and one without a session has nothing to forge (it
    gets its 401); a write that the session cookie could authorise (a form post,
    or an API call relying on the cookie) must come from our own pages: its
    Origin, or failing that its Referer, must be ours. SameSite=Lax cookies already keep
    most cross-site posts cookie-less; this also covers sibling subdomains and
    old browsers, for every route, including those added later.
    """

    def __init__(self, app: ASGIApp, settings: Settings, on_error: ErrorPage) -> None:
        super().__init__(app, on_error)
        self.settings = settings

    async def check(self, request: Request) -> Response | None:
        ambient = bool(request.scope.get("session")) and bearer(request) is None
        if ambient and not origin_allowed(request, self.settings):
            raise Forbidden("This was sent from another site and was refused.")
        return None


class WriteLimit(Guard):
    """Every write (POST, PUT, PATCH, DELETE) of every route, counted before it runs.

    A middleware rather than a call in each handler, so the routes later issues
    add are limited too. It sits inside the session middleware (it needs the
    session's id) and answers like any other error: JSON under ``/api/``, a
    toast for htmx, a friendly page otherwise, with ``Retry-After``.
    """

    def __init__(self, app: ASGIApp, limits: Limits, on_error: ErrorPage) -> None:
        super().__init__(app, on_error)
        self.limits = limits

    async def check(self, request: Request) -> Response | None:
        refused = self.limits.take_write(session_id(request), token_key(request))
        if refused is not None:
            wait, message = refused
            seconds = max(1, math.ceil(wait))
            raise TooManyRequests(message, headers={"Retry-After": str(seconds)},
                                  retry_after=seconds)
        return None


EVENT_IN_PATH = re.compile(r"^/(?:api/events|e)/([^/]+)")


def token_key(conn: HTTPConnection) -> str | None:
    """The fingerprint of the token behind a request: its bearer token, or the
    session's grant for the event in the path. Valid or not: a flood of made-up
    tokens is bounded by the limiter's size, and answered 401 at once anyway."""
    token = bearer(conn)
    if token is not None:
        return fingerprint(token)
    found = EVENT_IN_PATH.match(conn.url.path)
    if found:
        grant = session_grants(conn).get(found.group(1))
        if isinstance(grant, dict) and grant.get("fp"):
            return str(grant["fp"])
    return None
