"""A small tree of HTTP errors; one handler turns each into JSON (API) or a page.

Only the web layer raises these. The layers below raise ``domain.DomainError``s;
``from_domain`` is the one place that gives each its HTTP status and code.
"""

from __future__ import annotations

from typing import Any

from facilitation.domain import NOT_SAVED, DomainError
from facilitation.i18n import N_


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
    status, code, message = 503, "unavailable", NOT_SAVED


# A domain error's code -> the HTTP error that answers it, under the same code.
FROM_DOMAIN: dict[str, type[HTTPError]] = {
    "invalid": Unprocessable, "not_found": NotFound, "conflict": Conflict, "locked": Locked,
    "forbidden": Forbidden, "unavailable": ServiceUnavailable,
}


def from_domain(error: DomainError) -> HTTPError:
    """The HTTP answer to a refusal or failure of a layer below the web."""
    if error.code == "stale_version":  # a 409 that also carries the entity as it stands
        return Conflict(error.message, code="stale_version", current=error.current)
    return FROM_DOMAIN.get(error.code, Unprocessable)(error.message)


def as_http(error: HTTPError | DomainError) -> HTTPError:
    """An error a handler caught, as the HTTP error it answers (a handler that shows
    some refusals in place, and lets the others through to ``app.http_error``)."""
    return from_domain(error) if isinstance(error, DomainError) else error
