"""The plenary board: the projected page, its live socket, presence and join codes.

The board is read-only and has no controls: the moderator drives it from the
moderator page, through changes in the event's log (the ``plenary`` entity). On
every change the plenary's view is rendered once per worker and swapped whole,
so whatever changed (an item, a merge, the view itself) the board is right.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import segno
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route, WebSocketRoute

from facilitation import follow, followup
from facilitation.board_models import priorities, roles_grid
from facilitation.domain import MESSAGE, PLENARY, ROLE, TIMER
from facilitation.plenary import actions, goal_matrix, roles_matrix, room_counts
from facilitation.pushes import PLENARY_VIEW as VIEW
from facilitation.pushes import refresh
from facilitation.web.handling import PLENARY_BOARD, authorise, page_stream, serve_stream, stream

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.websockets import WebSocket

    from facilitation.domain import Board


def columns(n: int) -> int:
    """Room cards per row on a 16:9 screen: one row up to three rooms, two rows up to
    eight, then three."""
    if n <= 3:
        return max(1, n)
    return math.ceil(n / 2) if n <= 8 else math.ceil(n / 3)


@dataclass(frozen=True)
class View:
    """One of the board's views: its template, and what it shows beyond the shared
    context, computed only while it is on screen (the matrices are the costly part)."""

    template: str
    own: Callable[[Board, list[Any]], dict[str, Any]] | None = None
    # The largest base type the board may grow to, in % of the screen's height:
    # static/board.js fits the type between 18 px and this, then pages what still
    # does not fit.
    fit_max: float = 6.0


# Adding a view: its template in templates/plenary/, one entry here, its name in
# domain.PLENARY_VIEWS (what the API accepts) and in web/moderate_live.py's VIEW_NAMES.
VIEWS: dict[str, View] = {
    "rooms": View("plenary/rooms.html"),
    "spotlight": View("plenary/spotlight.html", fit_max=8.0),
    "goals": View("plenary/goals.html", lambda board, _: {"goals": goal_matrix(board)}),
    "roles": View("plenary/roles.html",
                  # partial: the handlers settle the comparisons first (_settle_roles).
                  lambda board, _: {"grid": roles_grid(board, roles_matrix(board, partial=True))}),
    # sorted() is stable: actions of as many votes stay in the order they were added.
    "priorities": View("plenary/priorities.html", lambda board, ranked: {
        "ranking": priorities(board, sorted(ranked, key=lambda a: -a.votes))}),
    "join": View("plenary/join_loader.html", fit_max=5.0),
    # After the event, for the next forum: how the actions moved (facilitation/followup.py).
    "followup": View("plenary/followup.html",
                     lambda board, _: {"followup": followup.summary(board, followup.today())}),
}


class ByRoom:
    """Actions by room, in their order (``room_items``: each room's own items; ``room_all``:
    with the joint actions it is part of), grouped when first read: the moderator's
    refresh of what changed reads neither, and grouping is a pass over every action."""

    def __init__(self, actions: list[Any], items_only: bool = False) -> None:
        self._actions = actions
        self._items_only = items_only
        self._groups: dict[str, list[Any]] | None = None

    def _grouped(self) -> dict[str, list[Any]]:
        if self._groups is None:
            self._groups = {}
            for action in self._actions:
                if self._items_only and action.kind != "item":
                    continue
                for room_id in action.rooms:
                    self._groups.setdefault(room_id, []).append(action)
        return self._groups

    def get(self, room_id: str, default: list[Any] | None = None) -> list[Any] | None:
        return self._grouped().get(room_id, default)

    def __getitem__(self, room_id: str) -> list[Any]:
        return self._grouped()[room_id]


def board_context(board: Board, presence: dict[str, int], shown: bool = True) -> dict[str, Any]:
    """Everything the plenary's views render, from one board; without the shown view's
    own part when ``shown`` is false (the moderator page needs only the shared one)."""
    plenary = board.singleton(PLENARY)
    sort = plenary.get("sort", "time")
    all_actions = actions(board, sort)
    rooms = [dict(r, locked=board.room_locked(r["id"])) for r in board.event.get("rooms", [])]
    room_items, room_all = ByRoom(all_actions, items_only=True), ByRoom(all_actions)
    roles_by_room: dict[str, list[Any]] = {}
    for role in board.live(ROLE):
        roles_by_room.setdefault(role["room"], []).append(role)
    spot = board.room(plenary["spotlight"]) if plenary.get("spotlight") else None
    name = plenary.get("view", "rooms")
    if name not in VIEWS or (name == "spotlight" and spot is None):
        name = "rooms"
    view = VIEWS[name]
    context = {
        "event": {**board.event, "id": board.event_id},
        "plenary": plenary,
        "view": name,
        "view_template": view.template,
        "fit_max": view.fit_max,
        "theme": "dark" if plenary.get("theme") == "dark" else "light",
        "rooms": rooms,
        "cols": columns(len(rooms)),
        "rows": math.ceil(len(rooms) / columns(len(rooms))) if rooms else 1,
        "room_names": {r["id"]: r["name"] for r in rooms},
        "room_counts": room_counts(board, presence),
        "actions": all_actions,
        "room_items": room_items,
        "room_all": room_all,
        "roles_by_room": roles_by_room,
        "spot": spot,
        "timer": board.singleton(TIMER),
        "message": board.singleton(MESSAGE),
        "seq": board.seq,
        **refresh(VIEW, board.event_id, board.seq),
    }
    if shown and view.own is not None:
        context.update(view.own(board, all_actions))
    return context


async def _settle_roles(board: Board) -> None:
    """The roles view reads alike responsibilities: compared in slices, between which
    the server answers everyone else (``follow.py``). A projector can wait a second for
    them (it refreshes at most every 400 ms); past that it shows what is compared so far,
    and the next change refreshes it."""
    if board.singleton(PLENARY).get("view") == "roles":
        await follow.settle(board, wait=1.0)


async def plenary_page(request: Request) -> Response:
    ctx = await authorise(request, PLENARY_BOARD)
    services, board = ctx.services, ctx.board
    presence = await services.presence.counts(board.event_id)
    await _settle_roles(board)
    return page_stream(request, "plenary.html", board_context(board, presence))


async def view_fragment(request: Request) -> Response:
    """The board's current view, fetched by the page when its socket says it changed."""
    ctx = await authorise(request, PLENARY_BOARD)
    services, board = ctx.services, ctx.board
    presence = await services.presence.counts(board.event_id)
    await _settle_roles(board)
    # Every action of the event (a big event's view is megabytes): sent in pieces, the
    # event loop free for everyone else between two (``handling.stream``).
    return stream(services.renderer, "plenary/view.html", board_context(board, presence))


async def presence_fragment(request: Request) -> Response:
    """Polled by the board: people present per room, swapped into the counts by id."""
    ctx = await authorise(request, PLENARY_BOARD)
    services, board = ctx.services, ctx.board
    counts = await services.presence.counts(board.event_id)
    html = "".join(
        f'<span id="present-{room["id"]}" class="present" hx-swap-oob="true">'
        f'{int(counts.get(room["id"], 0))}</span>'
        for room in board.event.get("rooms", [])
    )
    return HTMLResponse(html)


def qr_svg(url: str) -> str:
    return str(segno.make(url, error="m").svg_inline(
        scale=6, border=2, dark="#000", light="#fff", svgclass="qr", lineclass="qr-line",
        omitsize=True))


async def join_codes(request: Request) -> Response:
    """The join view's QR codes. Loaded by the board, never pushed: pushes carry no tokens.

    Join links write to their room, so only a board opened from the organiser's
    browser shows them; the read-only plenary link alone never reveals one.
    """
    ctx = await authorise(request, PLENARY_BOARD)
    services, board, secrets = ctx.services, ctx.board, ctx.secrets
    if not ctx.access.may_moderate:
        return HTMLResponse(services.renderer.render("plenary/join_hidden.html"))
    rooms = []
    for room in board.event.get("rooms", []):
        url = services.join_url(board.event_id, room["id"], secrets.join_tokens.get(room["id"]))
        rooms.append({**room, "join_url": url, "short_url": url.split("://", 1)[-1],
                      "qr": qr_svg(url)})
    html = services.renderer.render("plenary/join.html", rooms=rooms, cols=columns(len(rooms)))
    return HTMLResponse(html)


async def plenary_socket(websocket: WebSocket) -> None:
    ctx = await authorise(websocket, PLENARY_BOARD)
    await ctx.services.presence.counts(ctx.event_id)  # warm the counts pushes render with
    await serve_stream(websocket, ctx, VIEW)


def routes() -> list[Route | WebSocketRoute]:
    base = "/e/{event}/plenary"
    return [
        Route(base, plenary_page),
        Route(f"{base}/presence", presence_fragment),
        Route(f"{base}/view", view_fragment),
        Route(f"{base}/join", join_codes),
        WebSocketRoute(f"{base}/live", plenary_socket),
    ]
