"""Votes from the room page: during plenary each person gives a few votes to actions.

One vote per person per action (the vote's id is derived from the person and the
action) and the budget are checked in the store's atomic append (rules.py).
A person is their browser session: ``session["sid"]``, never shown to anyone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from facilitation import moderation
from facilitation.plenary import votes_context
from facilitation.web.handling import VOTE_IN_ROOM, authorise, is_htmx
from facilitation.web.security import ensure_sid

if TYPE_CHECKING:
    from starlette.requests import Request


def person(request: Request, event_id: str) -> str:
    sid = ensure_sid(request)
    return moderation.voter_id(event_id, f"sid:{sid}")


async def vote(request: Request) -> Response:
    ctx = await authorise(request, VOTE_IN_ROOM, request.path_params["room"])
    services, board, room = ctx.services, ctx.board, ctx.room
    form = await request.form()
    target = str(form.get("item", ""))
    voter = person(request, board.event_id)
    await moderation.vote(services, board.event_id, voter, target, form.get("give") != "0")
    base = f"/e/{board.event_id}/r/{room['id']}"
    if not is_htmx(request):
        return RedirectResponse(base, status_code=303)
    fresh = await services.board(board.event_id)
    context = {**votes_context(fresh, voter), "event": {**fresh.event, "id": fresh.event_id},
               "room": room, "oob": True}
    html = services.renderer.render("partials/my_votes.html", **context)
    html += services.renderer.render("partials/votes.html", **context)
    return HTMLResponse(html)


def routes() -> list[Route]:
    return [Route("/e/{event}/r/{room}/votes", vote, methods=["POST"])]
