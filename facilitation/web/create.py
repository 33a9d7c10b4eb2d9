"""Create an event in the browser: the admin token, a title, rooms, plan goals, a language.

The same validation as ``POST /api/events`` (EventIn); on success the organiser
lands on the moderator page, whose link carries the organiser token (claimed into
the session and dropped from the address bar). The admin token is only read from
the form, compared in constant time, and never echoed back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from facilitation import i18n
from facilitation.access import same
from facilitation.schemas import EventIn
from facilitation.web import errors
from facilitation.web.bodies import parse
from facilitation.web.handling import page, require_same_origin, services_of

if TYPE_CHECKING:
    from starlette.requests import Request


def rooms_of(text: str) -> list[dict[str, str]]:
    """One room a line: ``Name: guiding question`` (the question is optional)."""
    rooms = []
    for line in text.splitlines():
        name, _, prompt = line.partition(":")
        if name.strip():
            rooms.append({"name": name.strip(), "prompt": prompt.strip()})
    return rooms


async def new_event_page(request: Request) -> Response:
    return page(request, "create.html", {"form": {"language": i18n.current()}})


async def create_event(request: Request) -> Response:
    services = services_of(request)
    require_same_origin(request)
    form = await request.form()
    kept: dict[str, Any] = {k: str(form.get(k, "")) for k in ("title", "rooms", "goals", "language")}
    error = None
    if not same(str(form.get("admin_token", "")), services.settings.admin_token):
        error = i18n.N_("That is not the admin token. It was printed when the server first started.")
    else:
        body = {
            "title": kept["title"].strip(),
            "rooms": rooms_of(kept["rooms"]),
            "goals": [g.strip() for g in kept["goals"].splitlines() if g.strip()],
            "language": kept["language"] if i18n.valid(kept["language"]) else i18n.DEFAULT,
        }
        try:
            event_in = parse(EventIn, orjson.dumps(body))
        except (errors.Unprocessable, errors.BadRequest):
            error = i18n.N_("Give the event a title and at least one room, one room a line.")
        else:
            event_id, secrets = await services.create_event(event_in)
            board = await services.board(event_id)
            made = services.event_json(board, secrets, None)
            return RedirectResponse(made["moderator_url"], status_code=303)
    return page(request, "create.html", {"form": kept, "error": error},
                                  status=422)


def routes() -> list[Route]:
    return [Route("/new", new_event_page), Route("/new", create_event, methods=["POST"])]
