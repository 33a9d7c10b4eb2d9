"""A small tree of HTTP errors; one handler turns each into JSON (API) or a page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from facilitation.i18n import N_

if TYPE_CHECKING:
    from facilitation.domain import DomainError


class HTTPError(Exception):
    status = 500
    code = "internal"
    message = N_("Something went wrong on our side. Please try again.")

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        self.code = code or self.code
        self.headers = headers or {}
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.extra}}


class BadRequest(HTTPError):
    status, code, message = 400, "bad_request", N_("The request could not be understood.")


class Unauthorized(HTTPError):
    status, code = 401, "unauthorized"
    message = N_("A valid token is needed: open the link you were given, or send a bearer token.")


class Forbidden(HTTPError):
    status, code, message = 403, "forbidden", N_("Your token does not give access to this.")


class NotFound(HTTPError):
    status, code, message = 404, "not_found", N_("There is nothing here.")


class MethodNotAllowed(HTTPError):
    status, code, message = 405, "method_not_allowed", N_("That method is not allowed here.")


class Conflict(HTTPError):
    status, code, message = 409, "conflict", N_("That conflicts with what is stored.")


class PayloadTooLarge(HTTPError):
    status, code, message = 413, "too_large", N_("The request body is larger than 64 KiB.")


class Unprocessable(HTTPError):
    status, code, message = 422, "invalid", N_("Some fields are missing or invalid.")


class Locked(HTTPError):
    status, code, message = 423, "locked", N_("This room is closed: the moderator has locked it.")


class TooManyRequests(HTTPError):
    status, code, message = 429, "rate_limited", N_("Too many requests. Please slow down.")


class ServiceUnavailable(HTTPError):
    status, code = 503, "unavailable"
    message = N_("The server cannot store changes right now; nothing was saved. Try again shortly.")


def from_domain(error: DomainError) -> HTTPError:
    """The HTTP answer to a domain refusal (raised by the store's append or moderation)."""
    if error.code == "stale_version":
        return Conflict(error.message, code="stale_version", current=error.current)
    kinds: dict[str, type[HTTPError]] = {
        "not_found": NotFound, "conflict": Conflict, "locked": Locked}
    return kinds.get(error.code, Unprocessable)(error.message)
