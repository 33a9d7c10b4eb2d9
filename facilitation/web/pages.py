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

from facilitation import errors, i18n, live, moderation
from facilitation.domain import ITEM, MESSAGE, ROLE, TIMER, make_command, public
from facilitation.plenary import votes_context
from facilitation.schemas import (
    NAME_MAX,
    ItemIn,
    ItemPatch,
    RoleIn,
    RolePatch,
    changed_fields,
    parse,
)
from facilitation.security import (
    check_socket_origin,
    ensure_sid,
    match_token,
    origin_allowed,
    remember_grant,
    resolve,
)
from facilitation.web.api import check_goals, parse_after, parse_epoch, services_of

if TYPE_CHECKING:
    from starlette.datastructures import FormData
    from starlette.requests import Request
    from starlette.websockets import WebSocket

    from facilitation.domain import Board
    from facilitation.security import Access
    from facilitation.services import Services


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def claim_link(request: Request, event_id: str, secrets: Any) -> Response | None:
    """Trade a token in the URL for a session grant, then drop it from the address bar."""
    token = request.query_params.get("t")
    if token is None:
        return None
    access = match_token(token, event_id, secrets)
    if access is None:
        raise errors.Unauthorized(
            "This link is not valid any more. Ask the organiser for a fresh one."
        )
    remember_grant(request, access, token)
    ensure_sid(request)
    query = request.url.remove_query_params("t").query
    return RedirectResponse(request.url.path + (f"?{query}" if query else ""), status_code=303)


async def page_access(request: Request) -> tuple[Services, Access, Board, dict[str, Any]] | Response:
    event_id, room_id = request.path_params["event"], request.path_params["room"]
    services = services_of(request)
    secrets = await services.secrets(event_id)
    redirect = claim_link(request, event_id, secrets)
    if redirect is not None:
        return redirect
    access = resolve(request, event_id, secrets)
    board = await services.board(event_id)
    # Everything rendered for this request from here on (fragments, errors) speaks it.
    i18n.use(i18n.choose(request, board.event))
    room = services.room_of(board, room_id)
    access.require_read(room_id)
    return services, access, board, room


async def writable_page(
    request: Request,
) -> tuple[Services, Access, Board, dict[str, Any]] | Response:
    """``page_access`` for a form post: from our own pages, by someone who may write here."""
    found = await page_access(request)
    if isinstance(found, Response):
        return found
    require_same_origin(request)
    found[1].require_write(found[3]["id"])
    return found


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
    found = await page_access(request)
    if isinstance(found, Response):
        return found
    services, access, board, room = found
    context = room_context(board, room, access)
    me = who(request, board.event_id)
    if me is None or request.query_params.get("rename"):
        return services.renderer.page(request, "join.html", {**context, **(me or {})})
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
    return services.renderer.page(request, "room.html", context)


async def set_name(request: Request) -> Response:
    found = await page_access(request)
    if isinstance(found, Response):
        return found
    services, access, board, room = found
    require_same_origin(request)
    form = await request.form()
    name = str(form.get("name", "")).strip()
    org = str(form.get("org", "")).strip()
    if not name or len(name) > NAME_MAX or len(org) > NAME_MAX:
        context = {**room_context(board, room, access), "name": name, "org": org,
                   "error": i18n.N_("Please give a name of at most 200 characters.")}
        return services.renderer.page(request, "join.html", context, status=422)
    names = dict(request.session.get("names", {}))
    names[board.event_id] = {"name": name, "org": org}
    request.session["names"] = names
    ensure_sid(request)
    return RedirectResponse(f"/e/{board.event_id}/r/{room['id']}", status_code=303)


def require_same_origin(request: Request) -> None:
    """The CSRF check of every form post: it must come from our own pages."""
    if not origin_allowed(request, services_of(request).settings):
        raise errors.Forbidden("This form was sent from another site and was refused.")


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
MODELS: dict[str, tuple[type[Any], type[Any]]] = {
    ITEM: (ItemIn, ItemPatch), ROLE: (RoleIn, RolePatch)}


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
        found = await writable_page(request)
        if isinstance(found, Response):
            return found
        services, access, board, room = found
        form = await request.form()
        extra = {"id": str(form.get("id", "")), "author": author_of(who(request, board.event_id))}
        context = room_context(board, room, access)
        try:
            # UPDATE_FIELDS: an undo re-creates a deleted entry with its status too.
            body: Any = parse(MODELS[kind][0], form_json(form, UPDATE_FIELDS[kind], extra))
            fields = body.model_dump(mode="json", exclude={"id"})
            if kind == ITEM:
                check_goals(fields["goals"], board.event)
            appended = await services.submit(
                board.event_id, make_command(kind, "create", str(body.id), room["id"], fields)
            )
        except (errors.Unprocessable, errors.BadRequest, errors.Conflict, errors.Locked) as error:
            if not is_htmx(request):
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
        found = await page_access(request)
        if isinstance(found, Response):
            return found
        services, access, board, room = found
        access.require_write(room["id"])
        entity = _entity(board, kind, request.path_params["id"], room["id"])
        context = {**room_context(board, room, access), kind: entity, "conflict": False}
        if is_htmx(request):
            return HTMLResponse(services.renderer.render(f"partials/{kind}_edit.html", **context))
        return services.renderer.page(
            request, "edit_page.html", {**context, "partial": f"partials/{kind}_edit.html"})

    return handler


def _update(kind: str) -> Any:
    async def handler(request: Request) -> Response:
        found = await writable_page(request)
        if isinstance(found, Response):
            return found
        services, access, board, room = found
        entity_id = request.path_params["id"]
        form = await request.form()
        editing = bool(form.get("edit"))
        context = room_context(board, room, access)
        try:
            patch: Any = parse(MODELS[kind][1], form_json(form, UPDATE_FIELDS[kind], {}))
            fields = changed_fields(patch)
            if kind == ITEM and "goals" in fields:
                check_goals(fields["goals"], board.event)
            appended = await services.submit(
                board.event_id,
                make_command(kind, "update", entity_id, room["id"], fields, version=patch.version),
            )
        except (errors.Conflict, errors.Unprocessable, errors.BadRequest) as error:
            # A refused inline edit comes back as the edit form with what was typed:
            # beside the saved version for a stale edit (409), with the reason otherwise.
            conflict = isinstance(error, errors.Conflict)
            current = (error.extra.get("current") if conflict
                       else _entity(board, kind, entity_id, room["id"]))
            if not (is_htmx(request) and editing and current):
                raise
            mine = {k: form.get(k) for k in FIELDS[kind]} | {"goals": form.getlist("goals")}
            html = services.renderer.render(
                f"partials/{kind}_edit.html", **context, **{kind: current},
                conflict=conflict, mine=mine, error=None if conflict else error.message)
            return HTMLResponse(html, status_code=error.status)
        if not is_htmx(request):
            return RedirectResponse(context["base"], status_code=303)
        # The main target (the edit slot) is emptied; the entry swaps by its id.
        entity = services.renderer.entry(kind, appended.change.data, board.event, oob=True)
        said = FEEDBACK["saved"] if editing else FEEDBACK.get(
            str(fields.get("status")), FEEDBACK["saved"])
        return HTMLResponse(entity + feedback(services, said))

    return handler


def _delete(kind: str) -> Any:
    async def handler(request: Request) -> Response:
        found = await writable_page(request)
        if isinstance(found, Response):
            return found
        services, access, board, room = found
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
    services = services_of(websocket)
    event_id, room_id = websocket.path_params["event"], websocket.path_params["room"]
    check_socket_origin(websocket, services.settings)
    access = resolve(websocket, event_id, await services.secrets(event_id))
    board = await services.board(event_id)
    services.room_of(board, room_id)
    access.require_read(room_id)
    after = parse_after(websocket.query_params.get("after"))
    epoch = parse_epoch(websocket.query_params.get("epoch"))
    await websocket.accept()
    # Presence: one person per browser session, however many tabs it has open here.
    person = str(websocket.session.get("sid") or id(websocket))
    # Each language is its own view: rendered once per worker per change per language.
    view = f"room:{room_id}@{i18n.choose(websocket, board.event)}"
    await services.presence.enter(event_id, room_id, person)
    try:
        await live.stream(
            websocket, services, event_id, view, room_id, after, epoch,
            access=access)
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


__all__ = ["routes", "public"]
