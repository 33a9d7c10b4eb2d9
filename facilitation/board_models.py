"""The projected board's read models beyond ``plenary.py``: pure functions of a Board.

``plenary.py`` holds what every part of Part 3 shares (the actions with their merges
and votes, the goal and roles matrices, likely duplicates); here is what only the
board's views show: the ranking with each action's share of the votes and how many
people voted, and the actors x roles grid with what nobody holds. Each takes what it
needs from ``plenary.py`` as an argument where that is the costly part, so a cached or
incremental ``roles_matrix`` can be handed in as it is; the roles grid is kept, like
the matrix, until the board changes (``follow.py``).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from facilitation import follow
from facilitation.domain import ROLE, VOTE, Board
from facilitation.plenary import Action, actions, is_lead

# At most this many role names get a column of their own in the roles grid (the most
# used ones); the others share one last column, so a grid never runs off the screen.
ROLE_COLUMNS = 6


def priorities(board: Board, ranked: list[Action] | None = None) -> dict[str, Any]:
    """Every action by votes (ties in the order they were added), with its share.

    ``total`` counts votes (a person may give several); ``voters`` counts people.
    """
    ranked = actions(board, "votes") if ranked is None else ranked
    total = sum(a.votes for a in ranked)
    people = {v["voter"] for v in board.live(VOTE)}
    rows = [{"action": a, "votes": a.votes,
             "share": round(100 * a.votes / total) if total else 0} for a in ranked]
    return {"rows": rows, "total": total, "voters": len(people)}


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def roles_grid(board: Board, matrix: dict[str, Any]) -> dict[str, Any]:
    """Actors x roles: which responsibilities each actor takes in each role.

    ``matrix`` is ``plenary.roles_matrix(board)``: its conflicts (two actors leading one
    responsibility, one actor given contradicting roles) are flagged here as they are.
    Added here: responsibilities that nobody leads (no actor holds a lead role for them,
    nor for one alike), listed under ``unheld`` and their cells marked.
    """
    models = follow.models(board)
    kept: dict[str, Any] | None = models.cached("roles_grid", board.seq)
    if kept is not None:
        return kept
    roles = board.live(ROLE)
    names = {room["id"]: room["name"] for room in board.event.get("rooms", [])}
    used = Counter(_norm(r["role"]) for r in roles)
    # The most used roles, ties in the order they were first given.
    keys = [key for key, _ in used.most_common(ROLE_COLUMNS)]
    spelling: dict[str, str] = {}
    for role in roles:
        spelling.setdefault(_norm(role["role"]), role["role"])
    other = any(_norm(r["role"]) not in keys for r in roles)
    unheld, unheld_ids = _unheld(board, roles, names)
    rows: dict[str, dict[str, Any]] = {}
    for role in roles:
        row = rows.setdefault(_norm(role["actor"]), {
            "actor": role["actor"], "cells": [[] for _ in range(len(keys) + other)],
            "conflict": False, "gap": False})
        key = _norm(role["role"])
        row["cells"][keys.index(key) if key in keys else len(keys)].append(role)
        row["conflict"] = row["conflict"] or role["id"] in matrix["flagged"]
        row["gap"] = row["gap"] or role["id"] in unheld_ids
    grid = {
        "columns": [spelling[k] for k in keys], "other": other,
        "rows": sorted(rows.values(), key=lambda r: _norm(r["actor"])),
        "conflicts": matrix["conflicts"], "flagged": matrix["flagged"],
        "unheld": unheld, "unheld_ids": unheld_ids,
    }
    models.keep("roles_grid", board.seq, grid)
    return grid


def _unheld(board: Board, roles: list[dict[str, Any]],
            names: dict[str, str]) -> tuple[list[dict[str, Any]], set[str]]:
    """Responsibilities whose holders all support: nobody leads them, nor one alike
    (the board's index of alike responsibilities, ``follow.py``, as the conflicts use)."""
    duties = follow.models(board).duties
    lead = {r["id"] for r in roles if is_lead(r["role"])}
    led = {_norm(r.get("responsibility", "")) for r in roles if r["id"] in lead}
    groups: dict[str, list[dict[str, Any]]] = {}
    for role in roles:
        duty = _norm(role.get("responsibility", ""))
        if not duty or role["id"] in lead or duty in led:
            continue
        if any(other in lead for other in duties.alike(role["id"])):
            continue
        groups.setdefault(duty, []).append(role)
    unheld = [{"responsibility": held[0]["responsibility"], "roles": held,
               "rooms": list(dict.fromkeys(names.get(r["room"], "") for r in held))}
              for held in groups.values()]
    return unheld, {r["id"] for held in groups.values() for r in held}
