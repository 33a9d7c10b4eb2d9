"""Who a token is, what its holder may do, and tokens kept out of the logs.

An ``Access`` is what one caller may do in one event: the web layer makes one from
a bearer token or a session grant (``web/security.py``), and the layers below ask
it. Nothing here knows about requests: a refusal is a ``domain.Refused``, which
the web layer answers 403.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote_plus

from facilitation.domain import Refused
from facilitation.i18n import N_

if TYPE_CHECKING:
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
            raise Refused(N_("Your link is for another room."))

    def require_write(self, room: str) -> None:
        if not self.may_write(room):
            raise Refused(
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


def still_valid(access: Access, secrets: Secrets) -> bool:
    """Whether the token behind ``access`` is still the current one (not rotated)."""
    current = token_for(access, secrets)
    return current is not None and same(fingerprint(current), access.fp)


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
