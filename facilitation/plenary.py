"""The plenary's read models: pure functions of a Board.

The plenary board, the moderator's page and the API all see the event through
these: the *actions* (items not merged away, plus the joint actions that replaced
them), their votes, the goal alignment matrix, the roles matrix with its
conflicts, and likely duplicates across rooms. Nothing here writes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from facilitation import follow
from facilitation.domain import ITEM, MERGE, PLENARY, ROLE, VOTE, Board, Entity
from facilitation.lineup import lineup

# Role names that mean "this actor leads it": two of them on one responsibility clash.
LEAD_WORDS = ("lead", "leader", "coordinator", "coordinates", "owner", "chair", "convener",
              "responsible", "in charge")


def merged_items(board: Board) -> dict[str, Entity]:
    """Item id -> the live merge that now stands for it."""
    found: dict[str, Entity] = {}
    for merge in board.live(MERGE):
        for item_id in merge["items"]:
            found[item_id] = merge
    return found


def voters(board: Board) -> dict[str, set[str]]:
    """Action id -> the people who gave it a vote."""
    out: dict[str, set[str]] = {}
    for vote in board.live(VOTE):
        out.setdefault(vote["item"], set()).add(vote["voter"])
    return out


@dataclass
class Action:
    """One line of the board: a room's item, or a joint action merged from several."""

    kind: str  # "item" | "merge"
    entity: Entity
    rooms: list[str]
    goals: list[str]
    votes: int = 0
    sources: list[Entity] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.entity["id"])

    @property
    def text(self) -> str:
        return str(self.entity["text"])

    @property
    def created_at(self) -> str:
        return str(self.entity["created_at"])


def actions(board: Board, sort: str = "time") -> list[Action]:
    """Every action once: unmerged items and merges, with their votes, from the board's
    ``Lineup`` (kept up to date change by change; its Actions are shared: read only)."""
    return lineup(board).actions(sort)


def actions_whole(board: Board, sort: str = "time") -> list[Action]:
    """``actions`` read from the whole board: what the lineup must always equal (tests)."""
    merged = merged_items(board)
    given = voters(board)
    out: list[Action] = []
    live_items = board.live(ITEM)
    for item in live_items:
        if item["id"] in merged:
            continue
        out.append(Action("item", item, [item["room"]], list(item.get("goals", [])),
                          len(given.get(item["id"], ()))))
    items = {i["id"]: i for i in live_items}
    for merge in board.live(MERGE):
        sources = [items[i] for i in merge["items"] if i in items]
        # Its own goals: its sources' when it was made, then the moderator's (as the
        # outcomes count it); its sources' only for a merge stored without any.
        own = merge.get("goals")
        goals = (list(own) if isinstance(own, list)
                 else list(dict.fromkeys(g for s in sources for g in s.get("goals", []))))
        people = set(given.get(merge["id"], set()))
        for source in sources:
            people |= given.get(source["id"], set())
        out.append(Action("merge", merge, list(merge["rooms"]), goals, len(people), sources))
    out.sort(key=lambda a: a.created_at)
    if sort == "votes":
        out.sort(key=lambda a: -a.votes)  # stable: ties keep their order in time
    return out


def room_actions(board: Board, room_id: str, sort: str = "time") -> list[Action]:
    return [a for a in actions(board, sort) if room_id in a.rooms]


def votes_left(board: Board, voter: str) -> int:
    budget = int(board.singleton(PLENARY).get("votes_per_person", 3))
    used = sum(1 for v in board.live(VOTE) if v["voter"] == voter)
    return max(0, budget - used)


def my_votes(board: Board, voter: str) -> set[str]:
    return {v["item"] for v in board.live(VOTE) if v["voter"] == voter}


# -- goal alignment ----------------------------------------------------------------------


def goal_matrix(board: Board) -> dict[str, Any]:
    """Plan goals x rooms: how many actions of each room serve each goal.

    A joint action counts once in every room it came from, and once in the total.
    Goals no room addressed are marked; so is each room's count of untagged actions.
    """
    rooms = board.event.get("rooms", [])
    all_actions = actions(board)
    rows = []
    for goal in board.event.get("goals", []):
        serving = [a for a in all_actions if goal["id"] in a.goals]
        cells = [sum(1 for a in serving if room["id"] in a.rooms) for room in rooms]
        rows.append({"goal": goal, "cells": cells, "total": len(serving),
                     "unaddressed": not serving})
    untagged = [a for a in all_actions if not a.goals]
    return {
        "rooms": rooms,
        "rows": rows,
        "untagged": [sum(1 for a in untagged if room["id"] in a.rooms) for room in rooms],
        "untagged_total": len(untagged),
        "unaddressed": [r["goal"] for r in rows if r["unaddressed"]],
    }


# -- roles -----------------------------------------------------------------------------------


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def is_lead(role: str) -> bool:
    words = _norm(role)
    return any(re.search(rf"\b{re.escape(w)}\b", words) for w in LEAD_WORDS)


def roles_matrix(board: Board, *, partial: bool = False) -> dict[str, Any]:
    """Actors x rooms: the roles each actor was given in each room, and the conflicts.

    Conflicts: two different actors both *leading* the same responsibility (in any
    rooms), and one actor given different roles for the same responsibility. Alike
    responsibilities come from the board's index (``follow.py``: each role compared
    once, when it arrives); this costs the roles and their alike pairs, and is kept
    until the board changes. ``partial``: on the event loop, after ``follow.settle``.
    """
    models = follow.models(board)
    cached: dict[str, Any] | None = models.cached("roles", board.seq, partial)
    if cached is not None:
        return cached
    rooms = board.event.get("rooms", [])
    roles = board.live(ROLE)
    names = {room["id"]: room["name"] for room in rooms}
    at = {role["id"]: n for n, role in enumerate(roles)}
    pairs = sorted(
        (min(at[a], at[b]), max(at[a], at[b]))
        for a, b, _ in models.duties.all_pairs() if a in at and b in at
    )
    conflicts: list[dict[str, Any]] = []
    flagged: set[str] = set()
    for i, j in pairs:
        a, b = roles[i], roles[j]
        same_actor = _norm(a["actor"]) == _norm(b["actor"])
        if not same_actor and is_lead(a["role"]) and is_lead(b["role"]):
            kind = "two_leads"
        elif same_actor and _norm(a["role"]) != _norm(b["role"]):
            kind = "contradicting"
        else:
            continue
        conflicts.append({"kind": kind, "roles": [a, b],
                          "rooms": [names.get(a["room"], ""), names.get(b["room"], "")],
                          "responsibility": a["responsibility"]})
        flagged.update((a["id"], b["id"]))
    actors: dict[str, dict[str, Any]] = {}
    for role in roles:
        row = actors.setdefault(_norm(role["actor"]), {
            "actor": role["actor"], "cells": {room["id"]: [] for room in rooms},
            "conflict": False})
        if role["room"] in row["cells"]:
            row["cells"][role["room"]].append(role)
        row["conflict"] = row["conflict"] or role["id"] in flagged
    rows = sorted(actors.values(), key=lambda r: _norm(r["actor"]))
    for row in rows:
        row["cells"] = [row["cells"][room["id"]] for room in rooms]
    matrix = {"rooms": rooms, "rows": rows, "conflicts": conflicts, "flagged": flagged}
    models.keep("roles", board.seq, matrix)
    return matrix


# -- likely duplicates -----------------------------------------------------------------------


def suggestions(board: Board, limit: int = 8, *, partial: bool = False) -> list[dict[str, Any]]:
    """Pairs of items from different rooms whose texts are alike, most alike first.

    Read from the board's index (``follow.py``), which compared each item once when
    it arrived: this costs the pairs found, never the items squared, and is kept
    until the board changes. ``partial``: on the event loop, after ``follow.settle``.
    """
    models = follow.models(board)
    kept: list[dict[str, Any]] | None = models.cached(f"suggestions:{limit}", board.seq, partial)
    if kept is not None:
        return kept
    pairs: list[dict[str, Any]] = []
    for a_id, b_id, score in models.duplicates.best(limit):
        a, b = board.entities.get(f"{ITEM}:{a_id}"), board.entities.get(f"{ITEM}:{b_id}")
        if a is None or b is None:
            continue
        if (b["created_at"], b["id"]) < (a["created_at"], a["id"]):
            a, b = b, a
        pairs.append({"items": [a, b], "score": round(score)})
    pairs.sort(key=lambda p: (-p["score"], p["items"][0]["created_at"]))
    models.keep(f"suggestions:{limit}", board.seq, pairs)
    return pairs


def room_counts(board: Board, presence: dict[str, int]) -> dict[str, dict[str, int]]:
    """Per room: its actions as the board's column lists them (live items not merged into
    a joint action, which counts once in the joint actions), the items merged away,
    roles, and people present now."""
    return lineup(board).counts(presence)


def votes_context(board: Board, voter: str | None) -> dict[str, Any]:
    """What a room page's priorities panel renders; ``voter`` None for a shared push."""
    context: dict[str, Any] = {
        "plenary": board.singleton(PLENARY),
        "vote_actions": actions(board, "votes") if board.singleton(PLENARY).get("voting") else [],
    }
    if voter is not None:
        context["my_votes"] = sorted(my_votes(board, voter))
        context["votes_left"] = votes_left(board, voter)
    return context
