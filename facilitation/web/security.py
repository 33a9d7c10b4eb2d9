"""Who is asking: bearer tokens, session grants, Origin checks (401 and 403).

Who may do what is decided here and only here: an ``Access`` (``access.py``) comes
from a bearer token or from the signed session cookie that opening a token link
sets, and every handler asks it (through ``web.handling.authorise``) before
touching the store. The middlewares that guard every request are in ``guards.py``.
"""

from __future__ import annotations

import secrets as pysecrets
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from facilitation.access import (
    ORGANISER,
    Access,
    fingerprint,
    match_token,
    same,
    still_valid,
    token_for,
)
from facilitation.web.errors import Forbidden, Unauthorized

if TYPE_CHECKING:
    from facilitation.config import Settings
    from facilitation.domain import Secrets


def bearer(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def resolve(conn: HTTPConnection, event_id: str, secrets: Secrets) -> Access:
    """The caller's access to this event, or 401.

    A bearer token wins over the cookie (API clients send one; a wrong one is a
    401 even if a cookie would have done). A cookie grant counts only while the
    token it came from is still current: rotating a token ends its sessions.
    """
    token = bearer(conn)
    if token is not None:
        access = match_token(token, event_id, secrets)
        if access is None:
            raise Unauthorized("This token is not valid for this event.")
        return Access(access.event_id, access.role, access.room, via_bearer=True,
                      fp=fingerprint(token), owner=access.owner)
    grant = session_grants(conn).get(event_id)
    if grant:
        access = Access(event_id, str(grant.get("role", "")), grant.get("room"),
                        fp=str(grant.get("fp", "")), owner=grant.get("owner"))
        if still_valid(access, secrets):
            return access
        if access.owner and not token_for(access, secrets):
            # Withdrawn, not replaced: there is no new link to ask for until one is given.
            raise Unauthorized(
                "The organiser has withdrawn the link you opened. Ask them if you need a new one.")
        raise Unauthorized(
            "The organiser has replaced the link you opened. Ask them for the new one.")
    raise Unauthorized()


def session_grants(conn: HTTPConnection) -> dict[str, dict[str, Any]]:
    if "session" not in conn.scope:
        return {}
    grants = conn.session.get("grants")
    return grants if isinstance(grants, dict) else {}


def remember_grant(conn: HTTPConnection, access: Access, token: str) -> None:
    grants = dict(session_grants(conn))
    previous = grants.get(access.event_id)
    # The organiser opening a room's or the plenary's link keeps organiser rights.
    if previous and previous.get("role") == ORGANISER and access.role != ORGANISER:
        return
    grants[access.event_id] = {"role": access.role, "room": access.room, "fp": fingerprint(token)}
    if access.owner:
        grants[access.event_id]["owner"] = access.owner
    conn.session["grants"] = grants


def session_id(conn: HTTPConnection) -> str | None:
    """The browser session's random id (set when a token link is opened), if any."""
    if "session" not in conn.scope:
        return None
    sid = conn.session.get("sid")
    return sid if isinstance(sid, str) and sid else None


def ensure_sid(conn: HTTPConnection) -> str:
    """The browser session's random id (128 bits), made on first use.

    It names a person without naming them: rate limits, socket caps, presence
    and votes count by it. It lives only in the signed cookie.
    """
    sid = conn.session.get("sid")
    if not isinstance(sid, str) or not sid:
        sid = conn.session["sid"] = pysecrets.token_urlsafe(16)
    return sid


def admin_ok(conn: HTTPConnection, settings: Settings) -> None:
    token = bearer(conn)
    if token is None:
        raise Unauthorized("Creating events needs the admin token.")
    if not same(token, settings.admin_token):
        raise Unauthorized("This is not the admin token.")


# -- origins ---------------------------------------------------------------------------


def own_origins(conn: HTTPConnection, settings: Settings) -> set[str]:
    host = conn.headers.get("host", "")
    origins = {f"http://{host}", f"https://{host}"} if host else set()
    public = urlsplit(settings.public_url)
    origins.add(f"{public.scheme}://{public.netloc}")
    origins.update(settings.allowed_origins)
    return origins


def origin_allowed(conn: HTTPConnection, settings: Settings) -> bool:
    """Whether a browser request comes from our own pages.

    Used for websocket handshakes and as the CSRF check of form posts. A request
    without Origin falls back to Referer; with neither it is not allowed (the
    caller may still accept a bearer-token client, which no other site can forge).
    """
    origin = conn.headers.get("origin")
    if origin is None:
        referer = conn.headers.get("referer")
        if not referer:
            return False
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    return origin.rstrip("/") in own_origins(conn, settings)


def check_socket_origin(websocket: HTTPConnection, settings: Settings) -> None:
    """Refuse a cross-site websocket handshake before it is accepted.

    Browsers always send Origin on a websocket handshake and cookies ride along,
    so a page of another site could otherwise use a participant's session. A
    handshake without Origin is not a browser's: it must bring a bearer token
    (which no other site can make a browser send).
    """
    if websocket.headers.get("origin") is None:
        if bearer(websocket) is None:
            raise Unauthorized("A client without Origin must send a bearer token.")
        return
    if not origin_allowed(websocket, settings):
        raise Forbidden("Websockets from other sites are refused.")
