"""What every web handler shares: who asks (``authorise``), and how it reads and answers.

Every HTTP and socket handler starts with ``authorise(request, need, room)`` and
works from the ``Context`` it returns. It checks, in this order: a socket's
Origin, that the event exists (404), who the caller is from their bearer token
or session (401), that the named room exists (404), and the handler's ``Need``
(403). No handler resolves a token or reads the event's secrets itself.
Token links (``?t=``) are traded for a session before any handler runs
(``guards.TokenLinks``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from starlette.responses import HTMLResponse, JSONResponse, StreamingResponse

from facilitation import i18n
from facilitation.access import ORGANISER, PLENARY
from facilitation.domain import ITEM, ROLE, make_command
from facilitation.render import slices
from facilitation.schemas import ItemIn, ItemPatch, RoleIn, RolePatch
from facilitation.web import errors, live
from facilitation.web.bodies import changed_fields, parse
from facilitation.web.language import choose
from facilitation.web.security import check_socket_origin, origin_allowed, resolve

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterable

    from starlette.requests import HTTPConnection, Request
    from starlette.websockets import WebSocket

    from facilitation.access import Access
    from facilitation.domain import Board, Command, Secrets
    from facilitation.render import Renderer
    from facilitation.services import Services


@dataclass(frozen=True)
class Need:
    """What a handler needs of its caller, and what a refusal says.

    ``roles``: the links that may (none named: any link of the event). When the
    handler names a room, the caller must read it too, or write it (``write``).
    """

    roles: frozenset[str] = frozenset()
    refusal: str = ""
    write: bool = False

    def check(self, access: Access, room: str | None) -> None:
        if self.roles and access.role not in self.roles:
            raise errors.Forbidden(self.refusal)
        if room is None:
            return
        access.require_read(room)
        if self.write and not access.may_write(room):
            if self.refusal:
                raise errors.Forbidden(self.refusal)
            access.require_write(room)


# Any link of the event; with a room named, a link that reads that room.
READ = Need()
WRITE = Need(write=True)
VOTE_IN_ROOM = Need(write=True, refusal="Your link lets you read this room, not vote.")
MODERATE = Need(frozenset({ORGANISER}), "Only the organiser's link may do this.")
FOLLOWUP_PAGE = Need(frozenset({ORGANISER}),
                     "The follow-up page opens with the organiser's link only.")
MODERATOR_PAGE = Need(frozenset({ORGANISER}),
                      "The moderator page opens with the organiser's link only.")
PLENARY_BOARD = Need(frozenset({ORGANISER, PLENARY}),
                     "This is the plenary board: it opens with the plenary link.")
PLENARY_STATE = Need(frozenset({ORGANISER, PLENARY}),
                     "Only the plenary and organiser links see the plenary.")
# The people present in every room: a join link reads its own room only.
EVERY_ROOM = Need(frozenset({ORGANISER, PLENARY}),
                  "Only the plenary and organiser links see every room.")
# A join token names nobody: participants vote on their room page, as themselves.
PROXY_VOTE = Need(frozenset({ORGANISER}),
                  "Participants vote on their room page; over the API only the organiser records "
                  "votes on someone's behalf.")


@dataclass(frozen=True)
class Context:
    """One authorised request: the app's services, who asks, the event as it stands.

    ``board`` is the store's own (see ``Services.board``): read it before the
    next await or ask again. ``room`` is the room the handler named, else empty.
    """

    services: Services
    access: Access
    secrets: Secrets
    board: Board
    room: dict[str, Any]

    @property
    def event_id(self) -> str:
        return self.board.event_id


def services_of(conn: HTTPConnection) -> Services:
    return conn.app.state.services  # type: ignore[no-any-return]


async def authorise(conn: HTTPConnection, need: Need, room: str | None = None) -> Context:
    """The one way into an event for every handler: see the module's docstring."""
    services = services_of(conn)
    event_id = conn.path_params["event"]
    if conn.scope["type"] == "websocket":
        check_socket_origin(conn, services.settings)
    secrets = await services.secrets(event_id)
    access = resolve(conn, event_id, secrets)
    board = await services.board(event_id)
    if conn.scope["type"] == "http" and not conn.url.path.startswith("/api/"):
        # A page speaks the person's language from here on, refusals included.
        i18n.use(choose(conn, board.event))
    found = services.room_of(board, room) if room is not None else {}
    need.check(access, room)
    return Context(services, access, secrets, board, found)


# -- answers ---------------------------------------------------------------------------


class ORJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    """A full page: ``templates/<name>`` in the request's language (the event's, when
    ``context`` has one), with the address it answers (``here``)."""
    html = services_of(request).renderer.render(name, **_paged(request, context))
    return HTMLResponse(html, status_code=status)


def page_stream(request: Request, name: str, context: dict[str, Any]) -> StreamingResponse:
    """``page``, sent in pieces (``stream``): for pages of megabytes (the moderator's)."""
    return stream(services_of(request).renderer, name, _paged(request, context))


def _paged(request: Request, context: dict[str, Any]) -> dict[str, Any]:
    event = context.get("event")
    if event is not None or not i18n.chosen():
        i18n.use(choose(request, event))
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return {"request": request, "here": here, **context}


def stream(renderer: Renderer, name: str, context: dict[str, Any]) -> StreamingResponse:
    """``templates/<name>`` sent in pieces (``Renderer.pieces``), the event loop free
    for everyone else between two: a page of megabytes holds it one piece at a time,
    not for the whole page. ``context`` must hold everything the template reads (a
    board is not read again: it may change between two pieces). The language is this
    request's: the response is sent from its task."""
    return StreamingResponse(_sent(renderer.pieces(name, **context)),
                             media_type="text/html; charset=utf-8")


def paced(parts: Iterable[Callable[[], str]]) -> AsyncIterator[bytes]:
    """Each part rendered (called) in turn and sent, the event loop free for everyone
    else whenever rendering took ``render.PIECE_SECONDS``: a response made of many
    fragments (the moderator's refresh after a flood) never holds it for all of them."""
    return _sent(slices((make() for make in parts), chars=None))


async def _sent(pieces: Iterable[str]) -> AsyncIterator[bytes]:
    """Each piece encoded and sent, with everyone else's turn on the loop between two."""
    for piece in pieces:
        yield piece.encode()
        await asyncio.sleep(0)


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def require_same_origin(request: Request) -> None:
    """The CSRF check of a form post that no session vouches for (``guards.SameOriginWrites``
    covers those): it must come from our own pages."""
    if not origin_allowed(request, services_of(request).settings):
        raise errors.Forbidden("This form was sent from another site and was refused.")


# -- sockets ---------------------------------------------------------------------------


async def serve_stream(websocket: WebSocket, ctx: Context, view: str, room: str | None = None) -> None:
    """Accept an authorised socket and stream the event to it: what it missed since
    ``after=`` (unless ``epoch=`` says its board is from another store), then live.
    ``room``: only that room's changes and the event-wide ones (None: every room)."""
    after = parse_after(websocket.query_params.get("after"))
    epoch = parse_epoch(websocket.query_params.get("epoch"))
    await websocket.accept()
    await live.stream(websocket, ctx.services, ctx.event_id, view, room, after, epoch,
                      access=ctx.access)


def parse_after(raw: str | None) -> int:
    if raw is None or raw == "":
        return 0
    # ASCII only: "²" passes isdigit() and fails int().
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise errors.BadRequest("after: must be a whole number (a sequence number).")
    return int(raw)


def parse_epoch(raw: str | None) -> str | None:
    """``epoch=``: the event's epoch as the client knew it (from the event or room answer)."""
    if not raw:
        return None
    if len(raw) > 64 or not raw.isalnum():
        raise errors.BadRequest("epoch: must be the epoch the server gave.")
    return raw


# -- entries (action items and role assignments), from the API and from the room page ----

MODELS: dict[str, tuple[type[Any], type[Any]]] = {
    ITEM: (ItemIn, ItemPatch), ROLE: (RoleIn, RolePatch)}


def check_goals(goals: list[str], event: dict[str, Any]) -> None:
    known = {g["id"] for g in event.get("goals", [])}
    unknown = [g for g in goals if g not in known]
    if unknown:
        raise errors.Unprocessable(f"goals: unknown goal id {unknown[0]!r}")


def create_command(kind: str, raw: bytes, room_id: str, event: dict[str, Any]) -> Command:
    """A create from a JSON body, validated (422/400) against the schema and the event."""
    body: Any = parse(MODELS[kind][0], raw)
    fields = body.model_dump(mode="json", exclude={"id"})
    if kind == ITEM:
        check_goals(fields["goals"], event)
    return make_command(kind, "create", str(body.id), room_id, fields)


def update_command(
    kind: str, raw: bytes, entity_id: str, room_id: str, event: dict[str, Any]
) -> Command:
    """An edit from a JSON body: only the fields sent, based on the version it names."""
    patch: Any = parse(MODELS[kind][1], raw)
    fields = changed_fields(patch)
    if kind == ITEM and "goals" in fields:
        check_goals(fields["goals"], event)
    return make_command(kind, "update", entity_id, room_id, fields, version=patch.version)
