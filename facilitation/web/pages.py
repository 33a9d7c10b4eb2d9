"""The breakout room in the browser: the page, its forms and its live socket.

Every form works without JavaScript (a POST and a redirect back); with htmx the
same endpoints answer with fragments: the component that changed, swapped by
its stable id, exactly as the websocket push would swap it.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import orjson
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute

from facilitation import i18n, moderation
from facilitation.domain import ITEM, MESSAGE, ROLE, TIMER, DomainError, make_command
from facilitation.plenary import votes_context
from facilitation.schemas import NAME_MAX
from facilitation.web import errors
from facilitation.web.handling import (
    READ,
    WRITE,
    authorise,
    create_command,
    is_htmx,
    page,
    serve_stream,
    update_command,
)
from facilitation.web.language import choose
from facilitation.web.security import ensure_sid

if TYPE_CHECKING:
    from starlette.datastructures import FormData
    from starlette.requests import Request
    from starlette.websockets import WebSocket

    from facilitation.access import Access
    from facilitation.domain import Board
    from facilitation.services import Services


def who(request: Request, event_id: str) -> dict[str, str] | None:
    names = request.session.get("names", {})
    me = names.get(event_id) if isinstance(names, dict) else None
    return me if isinstance(me, dict) and me.get("name") else None


def author_of(me: dict[str, str] | None) -> str:
    if not me:
        return ""
    return f"{me['name']} ({me['org']})"[:NAME_MAX] if me.get("org") else me["name"]


def room_context(board: Board, room: dict[str, Any], access: Access) -> dict[str, Any]:
    return {
        "event": board.event, "room": room, "seq": board.seq,
        "timer": board.singleton(TIMER), "message": board.singleton(MESSAGE),
        "base": f"/e/{board.event_id}/r/{room['id']}",
        "can_write": access.may_write(room["id"]),
        "epoch": board.event.get("epoch", ""),
    }


async def room_page(request: Request) -> Response:
    ctx = await authorise(request, READ, request.path_params["room"])
    services, access, board, room = ctx.services, ctx.access, ctx.board, ctx.room
    context = room_context(board, room, access)
    me = who(request, board.event_id)
    if me is None or request.query_params.get("rename"):
        return page(request, "join.html", {**context, **(me or {})})
    voter = moderation.voter_id(board.event_id, f"sid:{ensure_sid(request)}")
    context.update(votes_context(board, voter))
    context.update(
        me=me,
        items=board.live(ITEM, room["id"]),
        roles=board.live(ROLE, room["id"]),
        form={"id": uuid.uuid4()},
        role_form_id=uuid.uuid4(),
        heartbeat=services.settings.heartbeat_seconds,
    )
    return page(request, "room.html", context)


async def set_name(request: Request) -> Response:
    ctx = await authorise(request, READ, request.path_params["room"])
    access, board, room = ctx.access, ctx.board, ctx.room
    form = await request.form()
    name = str(form.get("name", "")).strip()
    org = str(form.get("org", "")).strip()
    if not name or len(name) > NAME_MAX or len(org) > NAME_MAX:
        context = {**room_context(board, room, access), "name": name, "org": org,
                   "error": i18n.N_("Please give a name of at most 200 characters.")}
        return page(request, "join.html", context, status=422)
    names = dict(request.session.get("names", {}))
    names[board.event_id] = {"name": name, "org": org}
    request.session["names"] = names
    ensure_sid(request)
    return RedirectResponse(f"/e/{board.event_id}/r/{room['id']}", status_code=303)


def form_json(form: FormData, fields: tuple[str, ...], extra: dict[str, Any]) -> bytes:
    """Form fields as the API's JSON body, so pages and API share one validation."""
    body: dict[str, Any] = dict(extra)
    for name in fields:
        if name == "goals":
            if "goals" in form or form.get("edit"):
                body["goals"] = [str(g) for g in form.getlist("goals")]
        elif name in form:
            value = str(form.get(name, ""))
            body[name] = None if name == "due" and not value else value
    if "version" in form:
        raw = str(form.get("version", ""))
        # A number only when it is one (ASCII, 16 digits at most: "²" passes isdigit and
        # fails int, 23 digits overflow the JSON encoder); anything else is left for the
        # schema to refuse with its 422.
        body["version"] = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 16 else raw
    return orjson.dumps(body)


FIELDS = {
    ITEM: ("text", "owner", "due", "goals"),
    ROLE: ("actor", "role", "responsibility"),
}
UPDATE_FIELDS = {ITEM: FIELDS[ITEM] + ("status",), ROLE: FIELDS[ROLE]}


# What a person is told after each of their own actions (the toast).
FEEDBACK: dict[Any, str] = {
    (ITEM, "create"): i18n.N_("Action item added."),
    (ROLE, "create"): i18n.N_("Role assigned."),
    (ITEM, "undo"): i18n.N_("Action item restored."),
    (ROLE, "undo"): i18n.N_("Role assignment restored."),
    (ITEM, "delete"): i18n.N_("Action item deleted."),
    (ROLE, "delete"): i18n.N_("Role assignment deleted."),
    "agreed": i18n.N_("Marked agreed."),
    "done": i18n.N_("Marked done."),
    "proposed": i18n.N_("Reopened."),
    "saved": i18n.N_("Saved."),
}


def feedback(services: Services, message: str, undo: dict[str, Any] | None = None) -> str:
    return services.renderer.render("partials/toast.html", message=message, kind="ok", undo=undo)


def undo_form(kind: str, entity: dict[str, Any] | None, base: str) -> dict[str, Any] | None:
    """Undo a delete: the same entry created again (fresh id), as its own form post."""
    if not entity or entity.get("deleted"):
        return None
    fields: list[tuple[str, str]] = [("id", str(uuid.uuid4())), ("undo", "1")]
    for name in UPDATE_FIELDS[kind]:
        value = entity.get(name)
        if name == "goals":
            fields += [("goals", str(g)) for g in value or []]
        else:
            fields.append((name, "" if value is None else str(value)))
    return {"action": f"{base}/{kind}s", "fields": fields}


def _create(kind: str) -> Any:
    async def handler(request: Request) -> Response:
        ctx = await authorise(request, WRITE, request.path_params["room"])
        services, access, board, room = ctx.services, ctx.access, ctx.board, ctx.room
        form = await request.form()
        extra = {"id": str(form.get("id", "")), "author": author_of(who(request, board.event_id))}
        context = room_context(board, room, access)
        try:
            # UPDATE_FIELDS: an undo re-creates a deleted entry with its status too.
            command = create_command(
                kind, form_json(form, UPDATE_FIELDS[kind], extra), room["id"], board.event)
            appended = await services.submit(board.event_id, command)
        except (errors.HTTPError, DomainError) as caught:
            error = errors.as_http(caught)
            # A form refused for what it says comes back with its reason (htmx only).
            if not is_htmx(request) or error.status not in (400, 409, 422, 423):
                raise
            kept = {k: form.get(k) for k in FIELDS[kind]} | {
                "id": form.get("id"), "goals": form.getlist("goals")}
            html = services.renderer.render(
                f"partials/{kind}_form.html", **context, form=kept, error=error.message)
            return HTMLResponse(html, status_code=error.status)
        if not is_htmx(request):
            return RedirectResponse(context["base"], status_code=303)
        fresh = services.renderer.render(
            f"partials/{kind}_form.html", **context, form={"id": uuid.uuid4()})
        data = appended.change.data
        if appended.replayed:
            # A resend (a page's outbox after a reconnect): show the entry as it
            # stands now, which may be edited or deleted since it was first stored.
            data = board.entities.get(f"{kind}:{data['id']}", data)
        entity = services.renderer.entry(kind, data, board.event, oob=True)
        said = feedback(services, FEEDBACK[kind, "undo" if form.get("undo") else "create"])
        return HTMLResponse(fresh + entity + said, status_code=200 if appended.replayed else 201)

    return handler


def _entity(board: Board, kind: str, entity_id: str, room_id: str) -> dict[str, Any]:
    entity = board.entities.get(f"{kind}:{entity_id}")
    if entity is None or entity.get("deleted") or entity.get("room") != room_id:
        raise errors.NotFound("This entry does not exist any more.")
    return entity


def _edit_form(kind: str) -> Any:
    async def handler(request: Request) -> Response:
        ctx = await authorise(request, WRITE, request.path_params["room"])
        services, access, board, room = ctx.services, ctx.access, ctx.board, ctx.room
        entity = _entity(board, kind, request.path_params["id"], room["id"])
        context = {**room_context(board, room, access), kind: entity, "conflict": False}
        if is_htmx(request):
            return HTMLResponse(services.renderer.render(f"partials/{kind}_edit.html", **context))
        return page(
            request, "edit_page.html", {**context, "partial": f"partials/{kind}_edit.html"})

    return handler


def _update(kind: str) -> Any:
    async def handler(request: Request) -> Response:
        ctx = await authorise(request, WRITE, request.path_params["room"])
        services, access, board, room = ctx.services, ctx.access, ctx.board, ctx.room
        entity_id = request.path_params["id"]
        form = await request.form()
        editing = bool(form.get("edit"))
        context = room_context(board, room, access)
        try:
            command = update_command(
                kind, form_json(form, UPDATE_FIELDS[kind], {}), entity_id, room["id"], board.event)
            appended = await services.submit(board.event_id, command)
        except (errors.HTTPError, DomainError) as caught:
            error = errors.as_http(caught)
            if error.status not in (400, 409, 422):
                raise
            # A refused inline edit comes back as the edit form with what was typed:
            # beside the saved version for a stale edit (409), with the reason otherwise.
            conflict = error.status == 409
            current = (error.extra.get("current") if conflict
                       else _entity(board, kind, entity_id, room["id"]))
            # A stale change also brings the entry as saved now, swapped by its id: the
            # page settles the conflict at the entry against what is really saved, even
            # before its socket has caught up.
            theirs = (services.renderer.entry(kind, current, board.event, oob=True)
                      if conflict and current and is_htmx(request) else "")
            if not (is_htmx(request) and editing and current):
                if theirs:
                    return HTMLResponse(theirs, status_code=error.status)
                raise
            mine = {k: form.get(k) for k in FIELDS[kind]} | {"goals": form.getlist("goals")}
            html = services.renderer.render(
                f"partials/{kind}_edit.html", **context, **{kind: current},
                conflict=conflict, mine=mine, error=None if conflict else error.message)
            return HTMLResponse(html + theirs, status_code=error.status)
        if not is_htmx(request):
            return RedirectResponse(context["base"], status_code=303)
        # The main target (the edit slot) is emptied; the entry swaps by its id.
        entity = services.renderer.entry(kind, appended.change.data, board.event, oob=True)
        said = FEEDBACK["saved"] if editing else FEEDBACK.get(
            str(command.fields.get("status")), FEEDBACK["saved"])
        return HTMLResponse(entity + feedback(services, said))

    return handler


def _delete(kind: str) -> Any:
    async def handler(request: Request) -> Response:
        ctx = await authorise(request, WRITE, request.path_params["room"])
        services, board, room = ctx.services, ctx.board, ctx.room
        entity_id = request.path_params["id"]
        entity = board.entities.get(f"{kind}:{entity_id}")
        await services.submit(
            board.event_id, make_command(kind, "delete", entity_id, room["id"]))
        if not is_htmx(request):
            return RedirectResponse(f"/e/{board.event_id}/r/{room['id']}", status_code=303)
        gone = f'<li id="{kind}-{entity_id}" hx-swap-oob="delete"></li>'
        undo = undo_form(kind, entity, f"/e/{board.event_id}/r/{room['id']}")
        return HTMLResponse(gone + feedback(services, FEEDBACK[kind, "delete"], undo=undo))

    return handler


async def room_socket(websocket: WebSocket) -> None:
    room_id = websocket.path_params["room"]
    ctx = await authorise(websocket, READ, room_id)
    services, event_id, board = ctx.services, ctx.event_id, ctx.board
    # Presence: one person per browser session, however many tabs it has open here.
    person = str(websocket.session.get("sid") or id(websocket))
    # Each language is its own view: rendered once per worker per change per language.
    view = f"room:{room_id}@{choose(websocket, board.event)}"
    await services.presence.enter(event_id, room_id, person)
    try:
        await serve_stream(websocket, ctx, view, room_id)
    finally:
        await services.presence.leave(event_id, room_id, person)


def routes() -> list[Route | WebSocketRoute]:
    base = "/e/{event}/r/{room}"
    out: list[Route | WebSocketRoute] = [
        Route(base, room_page),
        Route(f"{base}/name", set_name, methods=["POST"]),
        WebSocketRoute(f"{base}/live", room_socket),
    ]
    for kind, plural in ((ITEM, "items"), (ROLE, "roles")):
        out += [
            Route(f"{base}/{plural}", _create(kind), methods=["POST"]),
            Route(f"{base}/{plural}/{{id}}/edit", _edit_form(kind)),
            Route(f"{base}/{plural}/{{id}}", _update(kind), methods=["POST"]),
            Route(f"{base}/{plural}/{{id}}/delete", _delete(kind), methods=["POST"]),
        ]
    return out


__all__ = ["routes"]
