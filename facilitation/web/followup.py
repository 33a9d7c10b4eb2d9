"""The follow-up API of ``shared/API.md`` ("Follow-up after the event").

``POST``/``GET /api/events/{event}/follow-up`` (organiser), ``GET …/owners/{owner}``
and ``PATCH …/progress/{id}`` (that owner's link, or the organiser), and
``POST …/owners/{owner}/token`` (organiser: a fresh link, the old one ends) and
``DELETE …/owners/{owner}/token`` (organiser: the link withdrawn, none given instead).
The owner's page and the organiser's follow-up page are in ``followup_pages.py``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.routing import Route

from facilitation import followup
from facilitation.followup_writes import (
    links,
    open_followup,
    owner_url,
    report,
    rotate_owner,
    withdraw_owner,
)
from facilitation.outcomes import Options, Query, offload
from facilitation.schemas import FollowUpIn, ProgressPatch
from facilitation.web import errors
from facilitation.web.bodies import parse
from facilitation.web.handling import MODERATE, READ, ORJSONResponse, authorise

if TYPE_CHECKING:
    from starlette.requests import Request

    from facilitation.access import Access
    from facilitation.domain import Board


def owner_of(board: Board, owner: str, access: Access) -> dict[str, Any]:
    """The owner ``owner`` if the caller may see it: the organiser, or that owner's link."""
    found = next((o for o in followup.owners(board) if o["id"] == owner), None)
    if found is None:
        raise errors.NotFound("There is no such owner in this event.")
    if not (access.may_moderate or access.owner == owner):
        raise errors.Forbidden("Your link is for another owner.")
    return found


async def open_api(request: Request) -> Response:
    ctx = await authorise(request, MODERATE)
    services, event_id = ctx.services, ctx.event_id
    raw = await request.body()
    body = parse(FollowUpIn, raw) if raw.strip() else FollowUpIn()
    board, secrets = await open_followup(services, event_id, [list(g) for g in body.same])
    return ORJSONResponse({"owners": links(services, board, secrets)})


async def summary_api(request: Request) -> Response:
    ctx = await authorise(request, MODERATE)
    services, event_id = ctx.services, ctx.event_id
    board = await services.board(event_id)
    out = followup.summary(board, followup.today())
    out["likely_same"] = followup.likely_same(board)
    return ORJSONResponse(out)


async def owner_api(request: Request) -> Response:
    ctx = await authorise(request, READ)
    board = ctx.board
    owner = owner_of(board, request.path_params["owner"], ctx.access)
    day = followup.today()
    return ORJSONResponse({
        "owner": {"id": owner["id"], "name": owner["name"]},
        "actions": [followup.action_json(board, f, day)
                    for f in followup.of_owner(board, owner["id"])],
        "seq": board.seq,
    })


def progress_fields(patch: ProgressPatch) -> dict[str, Any]:
    """What a report changes: only the fields sent; ``due: null`` moves it back to the plan."""
    values = patch.model_dump(mode="json", include=patch.model_fields_set)
    values.pop("version", None)
    for name in ("status", "progress"):
        if name in values and values[name] is None:
            raise errors.Unprocessable(f"{name}: may not be null")
    if "note" in values and values["note"] is None:
        values["note"] = ""
    if not values:
        raise errors.Unprocessable("Send at least one of status, progress, note and due.")
    return values


async def progress_api(request: Request) -> Response:
    ctx = await authorise(request, READ)
    patch = parse(ProgressPatch, await request.body())
    appended, board = await report(ctx.services, ctx.event_id, request.path_params["id"],
                                   ctx.access, patch, progress_fields(patch))
    found = followup.find(board, request.path_params["id"])
    if found is None:  # deleted in between: the report is stored, the action is gone
        raise errors.NotFound("This action was deleted meanwhile.")
    # The answer is this report as stored, even if another landed right after it.
    mine = replace(found, progress=appended.change.data)
    return ORJSONResponse(followup.action_json(board, mine, followup.today()))


async def calendar_api(request: Request) -> Response:
    """``GET …/owners/{owner}/calendar.ics``: one calendar file per owner, with the due
    dates of their actions (a moved one where they reported it), for their own calendar."""
    ctx = await authorise(request, READ)
    owner = owner_of(ctx.board, request.path_params["owner"], ctx.access)
    board = await ctx.services.snapshot(ctx.event_id)
    result = await offload.render(board, Query("ics", Options(owner=owner["keys"][0])))
    return Response(result.body, media_type=result.media_type, headers={
        "content-disposition": f'attachment; filename="{result.filename}"'})


async def rotate_api(request: Request) -> Response:
    ctx = await authorise(request, MODERATE)
    services, event_id = ctx.services, ctx.event_id
    owner = request.path_params["owner"]
    board = await services.board(event_id)
    if not any(o["id"] == owner for o in followup.owners(board)):
        raise errors.NotFound("There is no such owner in this event.")
    secrets = await rotate_owner(services, event_id, owner)
    token = secrets.owner_tokens[owner]
    return ORJSONResponse({"id": owner, "url": owner_url(services, event_id, owner, token),
                           "token": token})


async def withdraw_api(request: Request) -> Response:
    """204: the owner's link answers 401 from now on and its sockets close (4401); no
    new link is made until the organiser asks (``POST …/token``). Again: 204."""
    ctx = await authorise(request, MODERATE)
    await withdraw_owner(ctx.services, ctx.event_id, request.path_params["owner"])
    return Response(status_code=204)


def routes() -> list[Route]:
    base = "/api/events/{event}"
    return [
        Route(f"{base}/follow-up", open_api, methods=["POST"]),
        Route(f"{base}/follow-up", summary_api, methods=["GET"]),
        Route(f"{base}/owners/{{owner}}", owner_api, methods=["GET"]),
        Route(f"{base}/owners/{{owner}}/token", rotate_api, methods=["POST"]),
        Route(f"{base}/owners/{{owner}}/token", withdraw_api, methods=["DELETE"]),
        Route(f"{base}/owners/{{owner}}/calendar.ics", calendar_api, methods=["GET"]),
        Route(f"{base}/progress/{{id}}", progress_api, methods=["PATCH"]),
    ]
