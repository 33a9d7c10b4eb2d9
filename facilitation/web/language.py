"""A request's language, and the switcher: a plain link on every page that remembers a
choice in a cookie.

A link, not a script, so it works by keyboard, without JavaScript, and on every page
alike. The choice only affects how pages speak to this browser; it changes nothing
stored, so it needs no CSRF check. ``next`` must be a path on this site.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from facilitation import i18n
from facilitation.web import errors

YEAR = 365 * 24 * 3600


def choose(conn: HTTPConnection, event: dict[str, Any] | None = None) -> str:
    """The participant's choice, else the event's language, else the browser's, else English."""
    own = i18n.valid(conn.cookies.get(i18n.COOKIE))
    if own:
        return own
    if event is not None:
        return i18n.valid(event.get("language")) or i18n.DEFAULT
    return i18n.from_accept_language(conn.headers.get("accept-language", ""))


def safe_next(raw: str | None) -> str:
    """A local path to go back to; anything else (another site, a scheme) goes home."""
    if not raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw:
        return "/"
    return raw


async def switch(request: Request) -> Response:
    lang = i18n.valid(request.path_params["lang"])
    if lang is None:
        raise errors.NotFound(i18n.N_("There is no such language here."))
    answer = RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    answer.set_cookie(i18n.COOKIE, lang, max_age=YEAR, samesite="lax", httponly=True,
                      secure=request.app.state.settings.cookie_secure)
    return answer


def routes() -> list[Route]:
    return [Route("/lang/{lang}", switch)]
