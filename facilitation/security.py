"""Tokens, sessions, Origin checks, and tokens kept out of the logs.

Who may do what is decided here and only here: an ``Access`` comes from a
bearer token or from the signed session cookie that opening a token link sets,
and every handler asks it (through ``web.handling.authorise``) before touching
the store. The middlewares that guard every request are in ``guards.py``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets as pysecrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus, urlsplit

from starlette.requests import HTTPConnection

from facilitation.errors import Forbidden, Unauthorized
from facilitation.i18n import N_

if TYPE_CHECKING:

    from facilitation.config import Settings
    from facilitation.domain import Secrets

ORGANISER = "organiser"
PLENARY = "plenary"
JOIN = "join"
# An owner's follow-up link: reads and reports on that owner's actions only.
OWNER = "owner"


@dataclass(frozen=True)
class Access:
    """What one caller may do in one event."""

    event_id: str
    role: str
    room: str | None = None  # the room of a join token
    via_bearer: bool = False
    # Fingerprint of the token this access came from: a socket opened with it is
    # closed when that token is rotated (never the token itself).
    fp: str = ""
    owner: str | None = None  # the owner id of an owner's link

    def may_read(self, room: str) -> bool:
        return self.role in (ORGANISER, PLENARY) or self.room == room

    def may_write(self, room: str) -> bool:
        return self.role == ORGANISER or (self.role == JOIN and self.room == room)

    @property
    def may_moderate(self) -> bool:
        return self.role == ORGANISER

    def require_read(self, room: str) -> None:
        if not self.may_read(room):
            raise Forbidden("Your link is for another room.")

    def require_write(self, room: str) -> None:
        if not self.may_write(room):
            raise Forbidden(
                N_("Your link lets you read this room, not change it.")
                if self.may_read(room) else N_("Your link is for another room.")
            )


def fingerprint(token: str) -> str:
    """What a session cookie keeps of a token: enough to notice a rotation."""
    return hashlib.sha256(token.encode()).hexdigest()[:24]


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def match_token(token: str, event_id: str, secrets: Secrets) -> Access | None:
    """The access a token grants in this event; every candidate is compared in constant time."""
    found: Access | None = None
    if same(token, secrets.organiser_token):
        found = Access(event_id, ORGANISER)
    if same(token, secrets.plenary_token):
        found = found or Access(event_id, PLENARY)
    for room, join in secrets.join_tokens.items():
        if same(token, join):
            found = found or Access(event_id, JOIN, room)
    for owner, token_ in secrets.owner_tokens.items():
        if same(token, token_):
            found = found or Access(event_id, OWNER, owner=owner)
    return found


def token_for(access: Access, secrets: Secrets) -> str | None:
    if access.role == ORGANISER:
        return secrets.organiser_token
    if access.role == PLENARY:
        return secrets.plenary_token
    if access.role == OWNER:
        return secrets.owner_tokens.get(access.owner or "")
    return secrets.join_tokens.get(access.room or "")


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
        raise Unauthorized(
            "The organiser has replaced the link you opened. Ask them for the new one.")
    raise Unauthorized()


def still_valid(access: Access, secrets: Secrets) -> bool:
    """Whether the token behind ``access`` is still the current one (not rotated)."""
    current = token_for(access, secrets)
    return current is not None and same(fingerprint(current), access.fp)


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


# -- logs ----------------------------------------------------------------------------------

# The query parameter that carries a token in a link.
TOKEN_PARAM = "t"  # noqa: S105 - a parameter name, not a secret


def redact_query(text: str) -> str:
    """A logged path with its query, the value of every token parameter replaced.

    The parameter is recognised by its *decoded* name, as Starlette reads it: a link
    written ``?%74=TOKEN`` (or ``?t=`` twice) opens the page like ``?t=TOKEN``, so it is
    redacted like it.
    """
    path, mark, query = text.partition("?")
    if not mark:
        return text
    parts = []
    for part in query.split("&"):
        name, equals, _ = part.partition("=")
        if equals and unquote_plus(name, errors="replace") == TOKEN_PARAM:
            part = f"{name}=[redacted]"
        parts.append(part)
    return f"{path}?{'&'.join(parts)}"


class RedactTokens(logging.Filter):
    """Access logs show paths; token links carry ``?t=...``. Never log a token."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_query(a) if isinstance(a, str) and "?" in a else a for a in record.args)
        elif isinstance(record.msg, str) and "?" in record.msg:
            record.msg = redact_query(record.msg)
        return True
