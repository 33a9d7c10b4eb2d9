"""The plenary's actions, kept up to date change by change (issue 18).

``plenary.actions`` (every room's item not merged away, the joint actions, their votes,
in the order they were added) was read from the whole board on every request: five
passes over every entity and a sort, ~10 ms at 2,000 items, for every moderator
refresh, plenary view and room page with voting open, on the event loop. Here each
board carries one ``Lineup`` (in ``board.derived``) that follows the keys changed since
it last looked (``Board.changed_since``): a change costs the entries it touches (an
item, a merge and its sources, a vote's action), and a read costs a list of the kept
``Action`` objects, in order. A board that cannot tell what changed (built after the
lineup's seq, or further behind than it remembers) is read whole once again.

The ``Action`` objects are shared by every reader until their entry changes: readers
must not modify them (none does; the templates and the API only read).
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING

from facilitation.domain import ITEM, MERGE, ROLE, VOTE, Board, Entity

if TYPE_CHECKING:
    from facilitation.plenary import Action

# More changed keys than this since the lineup last looked: read the board whole
# instead (cheaper than following them one by one).
FOLLOW_MAX = 5_000
_KINDS = (ITEM, MERGE, VOTE, ROLE)


class Lineup:
    def __init__(self, board: Board) -> None:
        self.board = board
        self._read_whole()

    def _read_whole(self) -> None:
        board = self.board
        self.seq = board.seq
        self.items: dict[str, Entity] = {}  # live items, merged ones too
        self.merges: dict[str, Entity] = {}  # live merges
        # Item id -> the live merges that name it (the latest stands for it: merged_by).
        self.claims: dict[str, set[str]] = {}
        self.votes: dict[str, tuple[str, str]] = {}  # live vote id -> (action id, voter)
        self.voters: dict[str, dict[str, int]] = {}  # action id -> voter -> live votes
        self.roles: dict[str, str] = {}  # live role id -> its room
        # Per room: its actions as the board lists them, items merged away, roles.
        self.tally: dict[str, dict[str, int]] = {}
        self._counted: dict[str, tuple[str, str]] = {}  # item id -> (room, column)
        # The live actions in the board's order, as sort keys; the kept Action of each.
        self.order: list[tuple[str, int, str]] = []
        self.kept: dict[str, Action] = {}
        self._ordered: dict[str, tuple[str, int, str]] = {}
        touched: set[str] = set()
        for key, entity in board.entities.items():
            kind, _, entity_id = key.partition(":")
            if kind in _KINDS:
                touched.update(self._take(kind, entity_id, entity))
        for entry_id in touched:
            self._settle(entry_id)

    # -- following the board --------------------------------------------------------------

    def follow(self) -> None:
        board = self.board
        if board.seq == self.seq:
            return
        changed = board.changed_since(self.seq)
        if changed is None or len(changed) > FOLLOW_MAX:
            self._read_whole()
            return
        self.seq = board.seq
        touched: set[str] = set()
        for key in changed:
            kind, _, entity_id = key.partition(":")
            entity = board.entities.get(key)
            if kind in _KINDS and entity is not None:
                touched.update(self._take(kind, entity_id, entity))
        # Every record is up to date before any action is made again from them.
        for entry_id in touched:
            self._settle(entry_id)

    def _take(self, kind: str, entity_id: str, entity: Entity) -> set[str]:
        """Record one entity's current state; the ids of the actions it may change."""
        live = not entity.get("deleted")
        if kind == ITEM:
            if live:
                self.items[entity_id] = entity
            else:
                self.items.pop(entity_id, None)
            return {entity_id, *self.claims.get(entity_id, ())}
        if kind == MERGE:
            touched = {entity_id}
            before = self.merges.pop(entity_id, None)
            for item_id in (before or {}).get("items", ()):
                claims = self.claims.get(item_id, set())
                claims.discard(entity_id)
                if not claims:
                    self.claims.pop(item_id, None)
                touched.update((item_id, *claims))
            if live:
                self.merges[entity_id] = entity
                for item_id in entity.get("items", ()):
                    claims = self.claims.setdefault(item_id, set())
                    touched.update((item_id, *claims))
                    claims.add(entity_id)
            return touched
        if kind == VOTE:
            targets: set[str] = set()
            before_vote = self.votes.pop(entity_id, None)
            if before_vote is not None:
                self._count(*before_vote, -1)
                targets.add(before_vote[0])
            if live:
                self.votes[entity_id] = (str(entity.get("item", "")), str(entity.get("voter", "")))
                self._count(*self.votes[entity_id], 1)
                targets.add(self.votes[entity_id][0])
            # A vote for an item counts for the merge that stands for it too.
            return targets | {m for t in targets for m in self.claims.get(t, ())}
        before_room = self.roles.pop(entity_id, None)  # a role: the rooms' counts only
        if before_room is not None:
            self._tally(before_room, "roles", -1)
        if live:
            self.roles[entity_id] = str(entity.get("room", ""))
            self._tally(self.roles[entity_id], "roles", 1)
        return set()

    def _count(self, action_id: str, voter: str, step: int) -> None:
        mine = self.voters.setdefault(action_id, {})
        mine[voter] = mine.get(voter, 0) + step
        if mine[voter] <= 0:
            del mine[voter]
            if not mine:
                del self.voters[action_id]

    def merged_by(self, item_id: str) -> str | None:
        """The live merge that stands for an item: the latest of those that name it (as
        ``plenary.merged_items`` read them, in the order they were added)."""
        claims = self.claims.get(item_id)
        if not claims:
            return None
        return max(claims, key=lambda m: (self.merges[m]["created_at"], m))

    def _tally(self, room: str, column: str, step: int) -> None:
        row = self.tally.setdefault(room, {"items": 0, "merged": 0, "roles": 0})
        row[column] += step

    def _settle(self, entry_id: str) -> None:
        """Make the Action of one item or merge (or its absence) match the records."""
        from facilitation.plenary import Action  # plenary imports this module

        self.kept.pop(entry_id, None)
        place = self._ordered.pop(entry_id, None)
        if place is not None:
            at = bisect.bisect_left(self.order, place)
            if at < len(self.order) and self.order[at] == place:
                del self.order[at]
        counted = self._counted.pop(entry_id, None)
        if counted is not None:
            self._tally(*counted, -1)
        item = self.items.get(entry_id)
        merge = self.merges.get(entry_id)
        if item is not None:
            column = "merged" if entry_id in self.claims else "items"
            self._counted[entry_id] = (str(item.get("room")), column)
            self._tally(str(item.get("room")), column, 1)
            if column == "merged":
                return
            action = Action("item", item, [item["room"]], list(item.get("goals", [])),
                            len(self.voters.get(entry_id, ())))
            rank = 0
        elif merge is not None:
            sources = [self.items[i] for i in merge["items"] if i in self.items]
            # Its own goals: its sources' when it was made, then the moderator's (as the
            # outcomes count it); its sources' only for a merge stored without any.
            own = merge.get("goals")
            goals = (list(own) if isinstance(own, list)
                     else list(dict.fromkeys(g for s in sources for g in s.get("goals", []))))
            people = set(self.voters.get(entry_id, ()))
            for source in sources:
                people.update(self.voters.get(source["id"], ()))
            action = Action("merge", merge, list(merge["rooms"]), goals, len(people), sources)
            rank = 1
        else:
            return
        # As plenary.actions ordered them: by time added; at the same time, items before
        # merges, each by id.
        place = (str(action.entity["created_at"]), rank, entry_id)
        self.kept[entry_id] = action
        self._ordered[entry_id] = place
        bisect.insort(self.order, place)

    # -- reading --------------------------------------------------------------------------

    def actions(self, sort: str = "time") -> list[Action]:
        self.follow()
        kept = self.kept
        out = [kept[entry_id] for _, _, entry_id in self.order]
        if sort == "votes":
            out.sort(key=lambda a: -a.votes)  # stable: ties keep their order in time
        return out

    def merge_actions(self) -> list[Action]:
        """The joint actions, in the board's order (their number, not every action's)."""
        self.follow()
        return [self.kept[m] for m in sorted(
            (m for m in self.merges if m in self._ordered), key=self._ordered.__getitem__)]

    def room_tail(self, room: str, n: int) -> tuple[list[Action], bool]:
        """A room's last ``n`` items (not merged away) in the board's order, and whether
        the room has items before them. Read from the end of the order: costs the actions
        added since the room's (n+1)-th last item (after a change, the few added since)."""
        self.follow()
        found: list[Action] = []
        for _, _, entry_id in reversed(self.order):
            action = self.kept[entry_id]
            if action.kind == "item" and action.rooms[0] == room:
                if len(found) == n:
                    return found[::-1], True
                found.append(action)
        return found[::-1], False

    def merged_items(self) -> dict[str, Entity]:
        self.follow()
        return {item: self.merges[str(self.merged_by(item))] for item in self.claims}

    def counts(self, presence: dict[str, int]) -> dict[str, dict[str, int]]:
        """Per room: its actions as the board lists them, items merged away, roles, and
        people present (``plenary.room_counts``)."""
        self.follow()
        out = {}
        for room in self.board.event.get("rooms", []):
            row = {"items": 0, "merged": 0, "roles": 0, **self.tally.get(room["id"], {})}
            out[room["id"]] = {**row, "present": presence.get(room["id"], 0)}
        return out


def lineup(board: Board) -> Lineup:
    found = board.derived.get("lineup")
    if not isinstance(found, Lineup):
        found = board.derived["lineup"] = Lineup(board)
    return found
