"""The moderator's control page (organiser token): drives the plenary board.

Every control is a plain form (works without JavaScript: POST, then back to the
page); with htmx the same endpoint answers with the page's live region, and every
other open page (rooms, plenary, a second moderator tab) gets the change through
its socket, because each control appends a change to the event's log.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import orjson
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute

from facilitation import follow, moderation
from facilitation.pushes import MODERATE_VIEW as VIEW
from facilitation.schemas import (
    EventPatch,
    MergeIn,
    ModeratedItemPatch,
    PlenaryPatch,
    TimerIn,
)
from facilitation.web import errors
from facilitation.web.bodies import parse, whole_number
from facilitation.web.handling import (
    MODERATOR_PAGE,
    Context,
    authorise,
    is_htmx,
    paced,
    page_stream,
    serve_stream,
    stream,
)
from facilitation.web.moderate_live import changes, live_context, since
from facilitation.web.tokens import access_links

if TYPE_CHECKING:
    from starlette.datastructures import FormData
    from starlette.requests import Request
    from starlette.websockets import WebSocket

    from facilitation.domain import Board
    from facilitation.services import Services

# The timer form's minutes: "5", "2.5", "0,5" (up to a day, checked after).
MINUTES = re.compile(r"[0-9]{1,4}(?:\.[0-9]{1,3})?")
async def region(ctx: Context) -> dict[str, Any]:
    """The live region's context: fresh presence counts, likely duplicates compared so far."""
    presence = await ctx.services.presence.counts(ctx.event_id)
    await follow.settle(ctx.board)
    # Read again after the awaits: the board is read whole from here to the response.
    return live_context(await ctx.services.board(ctx.event_id), presence, ctx.services.renderer)


async def moderate_page(request: Request) -> Response:
    ctx = await authorise(request, MODERATOR_PAGE)
    context = await region(ctx)
    context["links"] = access_links(ctx.services, ctx.board, ctx.secrets)
    return page_stream(request, "moderate.html", context)


async def live_fragment(request: Request) -> Response:
    """The live region, fetched by the page when its socket says the event changed: with
    ``?since=<seq>`` (the seq the page shows), only what changed since when that can be
    told (``moderate_live.changes``), else the whole region."""
    ctx = await authorise(request, MODERATOR_PAGE)
    context = await region(ctx)
    renderer = ctx.services.renderer
    seq = since(request.query_params.get("since"))
    if seq is not None:
        board = await ctx.services.board(ctx.event_id)
        parts = changes(board, seq, context, renderer)
        if parts is not None:
            # Out-of-band swaps only: the region itself stays where it is.
            return StreamingResponse(paced(parts), media_type="text/html; charset=utf-8",
                                     headers={"HX-Reswap": "none"})
    return stream(renderer, "moderate/live.html", context)


async def _done(request: Request, services: Services, event_id: str,
                fresh_merge_form: bool = False) -> Response:
    """After a control: the live region for htmx, else back to the page."""
    if not is_htmx(request):
        return RedirectResponse(f"/e/{event_id}/moderate", status_code=303)
    board = await services.board(event_id)
    await follow.settle(board)
    context = live_context(board, services.presence.last.get(event_id, {}), services.renderer)
    html = services.renderer.render("moderate/live.html", **context, oob=True)
    html += services.renderer.render("partials/broadcast.html", **context, oob=True)
    if fresh_merge_form:
        html += services.renderer.render("moderate/merge_form.html", **context, oob=True)
    return HTMLResponse(html)


def _control(action: Any) -> Any:
    async def handler(request: Request) -> Response:
        ctx = await authorise(request, MODERATOR_PAGE)
        services, board = ctx.services, ctx.board
        form = await request.form()
        await action(services, board, form, request.path_params)
        return await _done(request, services, board.event_id, action is _merge)

    return handler


def _body(fields: dict[str, Any]) -> bytes:
    return orjson.dumps(fields)


async def _plenary(services: Services, board: Board, form: FormData, _: Any) -> None:
    fields: dict[str, Any] = {}
    for name in ("view", "spotlight", "sort", "theme"):
        if form.get(name):
            fields[name] = str(form.get(name))
    if form.get("voting") in ("on", "off"):
        fields["voting"] = form.get("voting") == "on"
    if form.get("votes_per_person"):
        fields["votes_per_person"] = whole_number(str(form.get("votes_per_person")),
                                                  "votes_per_person", 20)
    await moderation.set_plenary(services, board.event_id, parse(PlenaryPatch, _body(fields)))


async def _timer(services: Services, board: Board, form: FormData, _: Any) -> None:
    if form.get("stop"):
        await moderation.stop_timer(services, board.event_id)
        return
    raw = str(form.get("minutes", "")).replace(",", ".").strip()
    # Plain decimal minutes only: float() would also take "inf", "nan", "1e300" and "٥".
    if not MINUTES.fullmatch(raw) or not 0 < float(raw) <= 24 * 60:
        raise errors.Unprocessable("Give the countdown in minutes, for example 5.")
    seconds = max(1, round(float(raw) * 60))
    body = _body({"seconds": seconds, "label": str(form.get("label", ""))})
    await moderation.start_timer(services, board.event_id, parse(TimerIn, body))


async def _message(services: Services, board: Board, form: FormData, _: Any) -> None:
    text = "" if form.get("clear") else str(form.get("text", "")).strip()
    if len(text) > 200:
        raise errors.Unprocessable("A message may have at most 200 characters.")
    await moderation.set_message(services, board.event_id, text)


async def _lock(services: Services, board: Board, form: FormData, _: Any) -> None:
    locked = form.get("locked") == "1"
    room = str(form.get("room", ""))
    if room == "all":
        await moderation.set_lock_all(services, board.event_id, locked)
    else:
        await moderation.set_lock(services, board.event_id, room, locked)


async def _merge(services: Services, board: Board, form: FormData, _: Any) -> None:
    items = [str(i) for i in form.getlist("items")]
    text = str(form.get("text", "")).strip() or None
    body = _body({"id": str(form.get("id", "")), "items": items, "text": text})
    await moderation.create_merge(services, board.event_id, parse(MergeIn, body))


async def _unmerge(services: Services, board: Board, form: FormData, params: Any) -> None:
    await moderation.delete_merge(services, board.event_id, params["id"])


async def _merge_status(services: Services, board: Board, form: FormData, params: Any) -> None:
    status = str(form.get("status", ""))
    if status not in ("proposed", "agreed", "done"):
        raise errors.Unprocessable("Unknown status.")
    await moderation.update_merge(services, board.event_id, params["id"], {"status": status}, None)


async def _merge_goal(services: Services, board: Board, form: FormData, params: Any) -> None:
    """Toggle one plan goal on a joint action (its own goals, as the board and the
    outcomes count them; its sources keep theirs)."""
    merge = board.entities.get(f"merge:{params['id']}")
    if merge is None or merge.get("deleted"):
        raise errors.NotFound("This joint action does not exist any more.")
    goal = str(form.get("goal", ""))
    own = list(merge.get("goals", []))
    goals = [g for g in own if g != goal] if goal in own else own + [goal]
    await moderation.update_merge(services, board.event_id, params["id"], {"goals": goals}, None)


async def _item(services: Services, board: Board, form: FormData, params: Any) -> None:
    """Toggle one goal on an item, or set its status (agreed in plenary)."""
    item = board.entities.get(f"item:{params['id']}")
    if item is None or item.get("deleted"):
        raise errors.NotFound("This action item does not exist any more.")
    fields: dict[str, Any] = {}
    if form.get("goal"):
        goal = str(form.get("goal"))
        goals = list(item.get("goals", []))
        fields["goals"] = [g for g in goals if g != goal] if goal in goals else goals + [goal]
    if form.get("status"):
        fields["status"] = str(form.get("status"))
    await moderation.moderate_item(services, board.event_id, params["id"],
                                   parse(ModeratedItemPatch, _body(fields)))


async def _event(services: Services, board: Board, form: FormData, _: Any) -> None:
    rooms = []
    for room_id, name, prompt in zip(form.getlist("room_id"), form.getlist("room_name"),
                                     form.getlist("room_prompt"), strict=False):
        if str(name).strip():
            rooms.append({"id": str(room_id) or None, "name": str(name), "prompt": str(prompt)})
    goals = [{"id": str(goal_id) or None, "text": str(text)}
             for goal_id, text in zip(form.getlist("goal_id"), form.getlist("goal_text"),
                                      strict=False) if str(text).strip()]
    body = _body({"title": str(form.get("title", "")), "rooms": rooms, "goals": goals})
    await moderation.edit_event(services, board.event_id, parse(EventPatch, body))


async def event_form_done(request: Request) -> Response:
    """The settings form changes the page's structure: always load it afresh."""
    ctx = await authorise(request, MODERATOR_PAGE)
    services, board = ctx.services, ctx.board
    await _event(services, board, await request.form(), request.path_params)
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": f"/e/{board.event_id}/moderate"})
    return RedirectResponse(f"/e/{board.event_id}/moderate#settings", status_code=303)


async def moderate_socket(websocket: WebSocket) -> None:
    await serve_stream(websocket, await authorise(websocket, MODERATOR_PAGE), VIEW)


def routes() -> list[Route | WebSocketRoute]:
    base = "/e/{event}/moderate"
    controls = {
        "plenary": _plenary, "timer": _timer, "message": _message, "lock": _lock,
        "merges": _merge, "merges/{id}/delete": _unmerge, "merges/{id}/status": _merge_status,
        "merges/{id}/goals": _merge_goal,
        "items/{id}": _item,
    }
    return [
        Route(base, moderate_page),
        Route(f"{base}/event", event_form_done, methods=["POST"]),
        Route(f"{base}/live", live_fragment),
        WebSocketRoute(f"{base}/live", moderate_socket),
        *[Route(f"{base}/{path}", _control(action), methods=["POST"])
          for path, action in controls.items()],
    ]
