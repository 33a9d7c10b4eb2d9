"""What each change pushes to which view: the one table, ``PUSHES``.

A page's socket watches one view: ``room:<room id>`` (a breakout room's page),
``plenary`` (the projected board), ``moderate`` (the moderator's page),
``owner:<owner id>`` (an owner's follow-up page) or ``followup`` (the organiser's
follow-up page); the API stream (``json``) gets every change as JSON instead
(``Renderer.frame``).
For each change, a worker's hub renders each view that someone watches once
(per language), from the rows below whose kinds include the change's, in table
order, and the page swaps the fragments in by their ids (htmx out-of-band).

Each row states its scope. ``EVENT``: every socket of the view gets it.
``ROOM``: only the view of the room the change is about (an entry's room; for a
room change, that room), so one room's lock never reaches another room's page.
``OWNER``: only the pages of the owners of the action a report is about.
The hub already keeps a room's own changes (items, roles) off other rooms' sockets.

The plenary, the moderator's and the organiser's follow-up pages get a marker,
not their region: a whole board per change would cost a render per change, so
the page fetches its region itself, a few times a second at most
(``static/app.js``). The countdown and the message are small and pushed whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from facilitation import followup
from facilitation.domain import (
    EVENT,
    ITEM,
    MERGE,
    MESSAGE,
    OWNER,
    PLENARY,
    PROGRESS,
    ROLE,
    ROOM,
    TIMER,
    VOTE,
)
from facilitation.plenary import votes_context
from facilitation.schemas import TEXT_MAX

if TYPE_CHECKING:
    from facilitation.domain import Board, Change
    from facilitation.render import Renderer

# The views a socket can watch.
JSON_VIEW = "json"
ROOM_VIEW = "room"
PLENARY_VIEW = "plenary"
MODERATE_VIEW = "moderate"
OWNER_VIEW = "owner"
FOLLOWUP_VIEW = "followup"

# Scopes: who of a view's sockets a push is for.
SCOPE_EVENT = "event"
SCOPE_ROOM = "room"
SCOPE_OWNER = "owner"

# (renderer, the change, the board after it, the view's room id or "") -> HTML
Fragment = Callable[["Renderer", "Change", "Board", str], str]


@dataclass(frozen=True)
class Push:
    view: str
    kinds: tuple[str, ...]
    scope: str
    fragment: Fragment


# A marker's element id, the region's URL under /e/<event>/, and the region's id.
MARKERS = {
    PLENARY_VIEW: ("plenary-dirty", "plenary/view", "plenary-view"),
    MODERATE_VIEW: ("mod-dirty", "moderate/live", "mod-live"),
    FOLLOWUP_VIEW: ("fu-dirty", "follow-up/live", "fu-live"),
}


def refresh(view: str, event_id: str, seq: int) -> dict[str, Any]:
    """The marker of a page that fetches its own region: ``partials/refresh.html``."""
    marker_id, path, target = MARKERS[view]
    return {"refresh_id": marker_id, "refresh_url": f"/e/{event_id}/{path}",
            "refresh_target": target, "seq": seq}


def marker(view: str) -> Fragment:
    def fragment(renderer: Renderer, change: Change, board: Board, _: str) -> str:
        return renderer.render("partials/refresh.html",
                               **refresh(view, board.event_id, board.seq), oob=True)

    return fragment


def card(renderer: Renderer, board: Board, action: followup.FollowedAction, base: str,
         oob: bool = False) -> str:
    """One action on an owner's page (``followup/action.html``): the page, the answer
    to a report and the push alike."""
    return renderer.render("followup/action.html", a=followup.action_json(board, action, followup.today()),
                           base=base, oob=oob, note_max=TEXT_MAX)


def entry(renderer: Renderer, change: Change, board: Board, _: str) -> str:
    return renderer.entry(change.kind, change.data, board.event, oob=True)


def event_head(renderer: Renderer, change: Change, board: Board, room_id: str) -> str:
    room = board.room(room_id)
    if room is None:
        return ""
    return renderer.render("partials/event_head.html", event=board.event, room=room, oob=True)


def room_state(renderer: Renderer, change: Change, board: Board, room_id: str) -> str:
    room = board.room(room_id)
    if room is None:
        return ""
    return renderer.render("partials/room_state.html", room=room, oob=True)


def broadcast(renderer: Renderer, change: Change, board: Board, _: str) -> str:
    return renderer.render("partials/broadcast.html", timer=board.singleton(TIMER),
                           message=board.singleton(MESSAGE), oob=True)


def votes_panel(renderer: Renderer, change: Change, board: Board, room_id: str) -> str:
    room = board.room(room_id)
    if room is None:
        return ""
    context = {**votes_context(board, None), "event": {**board.event, "id": board.event_id},
               "room": room, "oob": True}
    return renderer.render("partials/votes.html", **context)


def owner_card(renderer: Renderer, change: Change, board: Board, owner: str) -> str:
    found = followup.find(board, change.data["id"])
    if found is None:
        return ""
    return card(renderer, board, found, f"/e/{board.event_id}/o/{owner}", oob=True)


# Everything the plenary board and the moderator page show.
BOARD = (ITEM, ROLE, EVENT, ROOM, MERGE, VOTE, PLENARY, TIMER, MESSAGE)

PUSHES: tuple[Push, ...] = (
    # A breakout room's page.
    Push(ROOM_VIEW, (ITEM, ROLE), SCOPE_ROOM, entry),  # swapped by its id; a deleted one removed
    Push(ROOM_VIEW, (EVENT,), SCOPE_EVENT, event_head),  # title, the room's name and question
    # Locked or open. The page's #room-state has no room in its id and a room change is
    # event-wide (room None: it reaches every room's sockets), so the scope keeps one
    # room's lock off the others' pages.
    Push(ROOM_VIEW, (ROOM,), SCOPE_ROOM, room_state),
    Push(ROOM_VIEW, (TIMER, MESSAGE), SCOPE_EVENT, broadcast),
    Push(ROOM_VIEW, (VOTE, MERGE, PLENARY), SCOPE_EVENT, votes_panel),  # the priorities panel
    # The projected board (its "follow-up" view shows the owners' reports).
    Push(PLENARY_VIEW, (*BOARD, PROGRESS, OWNER), SCOPE_EVENT, marker(PLENARY_VIEW)),
    Push(PLENARY_VIEW, (TIMER, MESSAGE), SCOPE_EVENT, broadcast),
    # The moderator's page.
    Push(MODERATE_VIEW, BOARD, SCOPE_EVENT, marker(MODERATE_VIEW)),
    Push(MODERATE_VIEW, (TIMER, MESSAGE), SCOPE_EVENT, broadcast),
    # Follow-up: an owner's page (the reported action's card) and the organiser's page.
    Push(OWNER_VIEW, (PROGRESS,), SCOPE_OWNER, owner_card),
    Push(FOLLOWUP_VIEW, (PROGRESS, OWNER, ITEM, MERGE, EVENT, ROOM), SCOPE_EVENT,
         marker(FOLLOWUP_VIEW)),
)

# The table by (kind, view), built once: a lookup per change, not a scan.
_BY_KIND: dict[tuple[str, str], tuple[Push, ...]] = {}
for _push in PUSHES:
    for _kind in _push.kinds:
        _BY_KIND[_kind, _push.view] = (*_BY_KIND.get((_kind, _push.view), ()), _push)


def addressed(scope: str, change: Change, board: Board, argument: str) -> bool:
    """Whether a push of this scope is for the view whose argument (room or owner) is given."""
    if scope == SCOPE_ROOM:
        # An entry's room, or the room a room change names.
        return (change.data.get("id") if change.kind == ROOM else change.room) == argument
    if scope == SCOPE_OWNER:
        found = followup.find(board, change.data["id"])
        return found is not None and argument in found.owners
    return True


def render(renderer: Renderer, change: Change, board: Board, view: str, argument: str) -> str:
    """Every push of ``change`` for one view (``argument``: its room or owner, else "")."""
    html = ""
    for push in _BY_KIND.get((change.kind, view), ()):
        if addressed(push.scope, change, board, argument):
            html += push.fragment(renderer, change, board, argument)
    return html
