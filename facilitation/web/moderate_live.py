"""The moderator page's live region: whole on a page load, and only what changed after.

The region is ``moderate/live.html``: its state (``moderate/state.html``: the board's
controls, the rooms, likely duplicates, joint actions; small) and every room's action
items (``moderate/item.html``, one ``#mod-item-<id>`` each, rendered once per version
and kept). Sent whole on every change, a big event's region was megabytes per refresh
(2,000 items of 2,000 characters: 5.6 MB), on the event loop, for every moderator tab.

So a refresh says the seq its page shows (``?since=``) and gets the state again plus,
by id (htmx out-of-band swaps), only the items that changed since: an edited or voted
item replaces its own ``<li>``, a new one is appended to its room's list, a deleted
one is removed. What cannot be told that way is answered with the whole region as
before (``None`` from ``changes``): a change to the event, a room, a merge or the
plenary (goals, names, order, merged items), items ordered by votes, a room's list
that becomes or stops being empty, a new item that does not come last in its room, or
a page further behind than the board remembers (``Board.changed_since``).

The whole region, and the page around it, is sent in pieces with the event loop free
between two (``Renderer.stream``), so that no request holds it for a whole big page.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from facilitation import follow, i18n
from facilitation.domain import ITEM, MESSAGE, OWNER, PLENARY_VIEWS, PROGRESS, ROLE, TIMER, VOTE
from facilitation.i18n import N_
from facilitation.lineup import lineup
from facilitation.plenary import suggestions
from facilitation.pushes import MODERATE_VIEW as VIEW
from facilitation.pushes import refresh
from facilitation.web.plenary import board_context

if TYPE_CHECKING:
    from facilitation.domain import Board
    from facilitation.render import Renderer
from facilitation.render import Rendered, joined

# Marked for extraction; the template translates them where they are shown.
VIEW_NAMES = {
    "rooms": N_("All rooms"), "spotlight": N_("One room (spotlight)"),
    "goals": N_("Goal alignment"), "roles": N_("Roles matrix"),
    "priorities": N_("Priorities (votes)"), "join": N_("Join codes"),
    "followup": N_("Follow-up"),
}
# Changes that touch only the region's state (counts, the countdown, reports), never an
# item's own fragment: an item change and a vote name the item they change.
STATE_ONLY = (ROLE, TIMER, MESSAGE, PROGRESS, OWNER)


def live_context(board: Board, presence: dict[str, int], renderer: Renderer) -> dict[str, Any]:
    context = board_context(board, presence, shown=False)
    event, base = context["event"], f"/e/{board.event_id}/moderate"

    def mod_item(action: Any, oob: bool = False) -> Markup:
        # Everything the item shows is in the key: its version, its votes, the event's
        # goals (the event's version) and the language (the page's, when it renders).
        lang = i18n.current()
        key = (board.event_id, action.id, action.entity["version"], action.votes,
               event.get("version"), lang, oob)
        return renderer.fragment("moderate/item.html", key, action=action, event=event,
                                 base=base, lang=lang, oob=oob)

    def mod_items(actions: list[Any]) -> Iterator[Rendered]:
        # A room's items joined here a few at a time (``joined``): each through the
        # template's autoescape was a copy of each kept item (3 MB per big page), and all
        # at once a room's new items were rendered without a break.
        return joined(mod_item(a) for a in actions)

    items_by_room = context["room_items"]  # an item is in its own room only
    context.update(
        suggestions=suggestions(board, partial=True),  # its handlers settle first
        # Items still to compare: the region shows what is found so far and asks again.
        comparing=follow.pending(board),
        items_by_room=items_by_room,
        merges=lineup(board).merge_actions(),
        view_names=VIEW_NAMES,
        views=PLENARY_VIEWS,
        new_id=lambda: uuid.uuid4(),
        mod_item=mod_item,
        mod_items=mod_items,
        base=base,
        **refresh(VIEW, board.event_id, board.seq),
    )
    return context


def since(raw: str | None) -> int | None:
    """The ``since`` a refresh gives (ASCII digits only), else None: the whole region."""
    if raw is None or not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        return None
    return int(raw)


def changes(board: Board, seq: int, context: dict[str, Any], renderer: Renderer
            ) -> list[Callable[[], str]] | None:
    """What a page showing ``seq`` lacks, as out-of-band swaps: the state, then each item
    that changed since, by id. None when it cannot be told that way (the module's doc).

    The parts are rendered when called (``handling.paced``: the event loop free between a
    few): during a flood a refresh brings a hundred new items, each rendered once, and
    rendered at once they held the loop for tens of milliseconds. Each part reads only
    what it was given (an item's Action, the context), never the board again."""
    changed = board.changed_since(seq)
    if changed is None or context["plenary"].get("sort", "time") != "time":
        return None
    items: dict[str, int | None] = {}  # item id -> seq it last became live (None: a vote)
    for key, (came, _, gone) in changed.items():
        kind, _, entity_id = key.partition(":")
        if kind == ITEM:
            if seq < gone < came:
                return None  # deleted and given again since: on the page or not
            items[entity_id] = came
        elif kind == VOTE:
            items.setdefault(str(board.entities.get(key, {}).get("item", "")), None)
        elif kind not in STATE_ONLY:
            return None
    # From the board's lineup (what the context's actions were read from, at this same
    # seq): by id, never a pass over every item.
    kept = lineup(board)
    mod_item = context["mod_item"]
    parts: list[Callable[[], str]] = [
        lambda: renderer.render("moderate/state.html", **context, oob=True)]
    new: dict[str, set[str]] = {}
    for item_id, became in items.items():
        action = kept.kept.get(item_id)
        if action is None or action.kind != "item":
            # Deleted since (not one created and deleted since, nor a vote's target
            # that is not an item on the page: a joint action's votes are in the state).
            # Merged away before ``seq`` (a merge since is sent whole): not on the page.
            merged = item_id in kept.claims and item_id in kept.items
            if became is not None and became <= seq and not merged:
                gone_html = str(Markup('<li id="mod-item-{}" hx-swap-oob="delete"></li>')
                                .format(item_id))
                parts.append(partial(str, gone_html))
                room = board.entities.get(f"{ITEM}:{item_id}", {}).get("room")
                if not kept.tally.get(str(room), {}).get("items"):
                    return None  # its room's list is empty now: its hint shows again
        elif became is not None and became > seq:
            new.setdefault(action.rooms[0], set()).add(item_id)
        else:
            parts.append(partial(mod_item, action, oob=True))
    for room, ids in new.items():
        # New items come last in their room (the order they were added), after items
        # the page already has: else the room's list is not a suffix away from it.
        tail, more = kept.room_tail(room, len(ids))
        if not more or {a.id for a in tail} != ids:
            return None
        parts.append(partial(str, f'<ul hx-swap-oob="beforeend:#mod-items-{room}">'))
        parts.extend(partial(mod_item, a) for a in tail)
        parts.append(partial(str, "</ul>"))
    return parts
