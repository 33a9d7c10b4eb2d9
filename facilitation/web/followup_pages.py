"""Follow-up in the browser: the owner's page (phone first, no account) and the organiser's.

The owner opens their link: their actions, each a small form (status, progress, note,
a new due date) saved through the room page's outbox (``static/outbox.js``: kept on
the device until the server has it, resent after a reconnect, a stale version shown
with a way to apply it on top). Each report is a change in the event's log, so the
owner's other screens, the organiser's follow-up page and the plenary's "follow-up"
view update live. Without JavaScript every form is a plain POST and a redirect back.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import orjson
from markupsafe import Markup
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute

from facilitation import followup, i18n
from facilitation.domain import DomainError
from facilitation.followup_writes import (
    links,
    open_followup,
    report,
    rotate_owner,
    withdraw_owner,
)
from facilitation.pushes import FOLLOWUP_VIEW as ORGANISER_VIEW
from facilitation.pushes import OWNER_VIEW, card, refresh
from facilitation.schemas import ProgressPatch
from facilitation.web import errors
from facilitation.web.bodies import parse
from facilitation.web.followup import owner_of, progress_fields
from facilitation.web.handling import (
    FOLLOWUP_PAGE,
    READ,
    Context,
    authorise,
    is_htmx,
    page,
    serve_stream,
)

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.websockets import WebSocket

    from facilitation.domain import Board



# -- the owner's page ------------------------------------------------------------------


def owner_language(conn: Request | WebSocket, event: dict[str, Any]) -> str:
    """The owner's language: their own choice, else their phone's (an owner is not at
    the event any more, and may not read its language), else the event's."""
    own = i18n.valid(conn.cookies.get(i18n.COOKIE))
    if own:
        return own
    header = conn.headers.get("accept-language", "")
    browser = i18n.from_accept_language(header)
    if browser != i18n.DEFAULT or re.search(r"(^|,)\s*en\b", header.lower()):
        return browser
    return i18n.valid(event.get("language")) or i18n.DEFAULT


def owner_here(ctx: Context, conn: Request | WebSocket) -> dict[str, Any]:
    """The owner in the path, if the caller's link is theirs or the organiser's (403);
    from here on the page speaks the owner's language."""
    i18n.use(owner_language(conn, ctx.board.event))
    return owner_of(ctx.board, conn.path_params["owner"], ctx.access)


async def owner_page(request: Request) -> Response:
    ctx = await authorise(request, READ)
    owner = owner_here(ctx, request)
    services, board, event_id = ctx.services, ctx.board, ctx.event_id
    base = f"/e/{event_id}/o/{owner['id']}"
    # Each card is rendered (and escaped) by its own template, as pushes render it.
    cards = [Markup(card(services.renderer, board, f, base))  # noqa: S704
             for f in followup.of_owner(board, owner["id"])]
    # No "event" in the context: the page would then speak the event's language.
    return page(request, "followup/owner.html", {
        "title": board.event.get("title", ""), "owner": owner,
        "calendar": f"/api/events/{event_id}/owners/{owner['id']}/calendar.ics",
        "cards": cards, "base": base, "seq": board.seq,
        "epoch": board.event.get("epoch", ""), "heartbeat": services.settings.heartbeat_seconds,
    })


def form_body(form: Any) -> bytes:
    """The form's fields as ``PATCH …/progress``'s JSON body: one validation for both."""
    body: dict[str, Any] = {}
    for name in ("status", "note"):
        if name in form:
            body[name] = str(form.get(name))
    for name in ("version", "progress"):
        if name in form:
            raw = str(form.get(name)).strip()
            body[name] = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 16 else raw
    if "due" in form:
        body["due"] = str(form.get("due")) or None
    return orjson.dumps(body)


async def owner_report(request: Request) -> Response:
    """A report from the owner's page (the outbox sends it; without JS a plain POST)."""
    ctx = await authorise(request, READ)
    owner = owner_here(ctx, request)
    services, access, board = ctx.services, ctx.access, ctx.board
    base = f"/e/{board.event_id}/o/{owner['id']}"
    form = await request.form()
    try:
        patch = parse(ProgressPatch, form_body(form))
        _, board = await report(services, board.event_id, request.path_params["id"],
                                       access, patch, progress_fields(patch))
    except (errors.HTTPError, DomainError) as caught:
        error = errors.as_http(caught)
        if not is_htmx(request) or error.status not in (400, 403, 404, 409, 422):
            raise
        # The outbox keeps the report and shows this reason with a way out (for a stale
        # version: apply it on top of the saved one, as on the room page).
        html = services.renderer.render("followup/refused.html", message=error.message)
        return HTMLResponse(html, status_code=error.status)
    if not is_htmx(request):
        return RedirectResponse(base, status_code=303)
    found = followup.find(board, request.path_params["id"])
    html = card(services.renderer, board, found, base, oob=True) if found else ""
    html += services.renderer.render("partials/toast.html", message=i18n.N_("Saved."), kind="ok")
    return HTMLResponse(html)


async def owner_socket(websocket: WebSocket) -> None:
    ctx = await authorise(websocket, READ)
    owner = owner_here(ctx, websocket)
    await serve_stream(websocket, ctx, f"{OWNER_VIEW}:{owner['id']}@{i18n.current()}")


# -- the organiser's follow-up page ----------------------------------------------------------


def live_context(board: Board) -> dict[str, Any]:
    return {
        "event": {**board.event, "id": board.event_id},
        "summary": followup.summary(board, followup.today()),
        "room_names": {r["id"]: r["name"] for r in board.event.get("rooms", [])},
        **refresh(ORGANISER_VIEW, board.event_id, board.seq),
    }


async def organiser_page(request: Request) -> Response:
    ctx = await authorise(request, FOLLOWUP_PAGE)
    services, board, event_id = ctx.services, ctx.board, ctx.event_id
    context = live_context(board)
    context.update(
        links=links(services, board, ctx.secrets),
        likely=followup.likely_same(board), spellings=sorted(followup.spellings(board).values(),
                                                             key=str.casefold),
        base=f"/e/{event_id}/follow-up", heartbeat=services.settings.heartbeat_seconds,
        rotated=request.query_params.get("rotated", ""),
        withdrawn=request.query_params.get("withdrawn", ""),
    )
    return page(request, "followup/organiser.html", context)


async def organiser_live(request: Request) -> Response:
    ctx = await authorise(request, FOLLOWUP_PAGE)
    return HTMLResponse(ctx.services.renderer.render("followup/live.html",
                                                     **live_context(ctx.board)))


async def open_form(request: Request) -> Response:
    """Create (or bring up to date) the owners' links; ``same`` joins the ticked names."""
    ctx = await authorise(request, FOLLOWUP_PAGE)
    services, board = ctx.services, ctx.board
    form = await request.form()
    names = [str(n) for n in form.getlist("same") if str(n).strip()]
    if len(names) == 1:
        raise errors.Unprocessable("Tick at least two names to join them into one owner.")
    if any(len(n) > 200 for n in names) or len(names) > 50:
        raise errors.Unprocessable("Join at most 50 names of at most 200 characters.")
    await open_followup(services, board.event_id, [names] if names else [])
    return RedirectResponse(f"/e/{board.event_id}/follow-up#links", status_code=303)


async def rotate_form(request: Request) -> Response:
    ctx = await authorise(request, FOLLOWUP_PAGE)
    services, board = ctx.services, ctx.board
    owner = request.path_params["owner"]
    if not any(o["id"] == owner for o in followup.owners(board)):
        raise errors.NotFound("There is no such owner in this event.")
    await rotate_owner(services, board.event_id, owner)
    return RedirectResponse(f"/e/{board.event_id}/follow-up?rotated={owner}#links",
                            status_code=303)


async def withdraw_form(request: Request) -> Response:
    """The organiser confirmed taking an owner's link away (the page asks first)."""
    ctx = await authorise(request, FOLLOWUP_PAGE)
    owner = request.path_params["owner"]
    await withdraw_owner(ctx.services, ctx.event_id, owner)
    return RedirectResponse(f"/e/{ctx.event_id}/follow-up?withdrawn={owner}#links",
                            status_code=303)


async def organiser_socket(websocket: WebSocket) -> None:
    await serve_stream(websocket, await authorise(websocket, FOLLOWUP_PAGE), ORGANISER_VIEW)


def routes() -> list[Route | WebSocketRoute]:
    owner = "/e/{event}/o/{owner}"
    organiser = "/e/{event}/follow-up"
    return [
        Route(owner, owner_page),
        Route(f"{owner}/progress/{{id}}", owner_report, methods=["POST"]),
        WebSocketRoute(f"{owner}/live", owner_socket),
        Route(organiser, organiser_page),
        Route(f"{organiser}/live", organiser_live),
        WebSocketRoute(f"{organiser}/live", organiser_socket),
        Route(f"{organiser}/open", open_form, methods=["POST"]),
        Route(f"{organiser}/owners/{{owner}}/token", rotate_form, methods=["POST"]),
        Route(f"{organiser}/owners/{{owner}}/withdraw", withdraw_form, methods=["POST"]),
    ]
