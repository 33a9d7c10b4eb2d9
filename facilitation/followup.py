"""Follow-up after the event: owners, their actions and progress, as pure functions of a Board.

An *owner* is an organisation or a role named in an action's owner field, never an
account. Owner names are compared without case and extra spaces (``norm``); the
organiser joins spellings that mean one owner (``plan_owners``). Each owner entity
keeps the normalised spellings it stands for, so an action finds its owner by its
owner field alone. A *progress* entity (id = the action's id) carries the follow-up
status, progress 0-100, a note and a moved due date, and its own history.

The actions are the plenary's (``plenary.actions``): every room's item not merged
away, and every joint action once. Nothing here writes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from facilitation.domain import (
    ACCESS,
    ITEM,
    MERGE,
    OWNER,
    PROGRESS,
    Board,
    Entity,
    access_id,
    entity_key,
    owner_field,
)
from facilitation.plenary import Action, actions
from facilitation.similarity import alike_names

# Statuses that end an action: never overdue, and "done" counts as 100 %.
CLOSED = ("done", "dropped")


def today() -> date:
    """The day overdue is judged on (UTC, like every stored time)."""
    return datetime.now(UTC).date()


@lru_cache(maxsize=8192)
def norm(name: str) -> str:
    """An owner name as compared: no case, no extra spaces (kept: a few hundred owners
    are named on thousands of actions)."""
    return " ".join(name.split()).casefold()


def tidy(name: str) -> str:
    """An owner name as shown: extra spaces dropped, case kept."""
    return " ".join(name.split())


def owner_id(key: str) -> str:
    """The id of the owner first named ``key``: the same on every worker and every ask,
    so opening follow-up twice (even at once) gives the same links."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def owner_names(action: Action) -> list[str]:
    """Who owns an action, as written: a joint action's own owner, else its sources'."""
    own = tidy(str(action.entity.get("owner") or ""))
    if own:
        return [own]
    if action.kind == MERGE:
        seen: dict[str, str] = {}
        for source in action.sources:
            name = tidy(str(source.get("owner") or ""))
            if name:
                seen.setdefault(norm(name), name)
        return list(seen.values())
    return []


def owners(board: Board) -> list[Entity]:
    return index(board).owners


def withdrawn(board: Board, owner_id: str) -> bool:
    """Whether the organiser took this owner's link away (``DELETE …/owners/{owner}/token``):
    opening follow-up again gives them none until the organiser asks for a new one."""
    access = board.entities.get(entity_key(ACCESS, access_id(owner_field(owner_id))))
    return bool(access and access.get("revoked"))


def owner_by_key(board: Board) -> dict[str, Entity]:
    return {key: o for o in owners(board) for key in o.get("keys", [])}


@dataclass(frozen=True)
class FollowedAction:
    """One action with its owners and its progress, as follow-up shows it."""

    action: Action
    ref: str
    owners: tuple[str, ...]  # owner ids
    progress: Entity | None  # None: never reported

    @property
    def id(self) -> str:
        return self.action.id


def refs(board: Board) -> dict[str, str]:
    """The outcomes' references: ``R2.3`` is room 2's third action, ``M1`` the first
    joint action (the same numbering as ``outcomes.model``)."""
    number = {room["id"]: n for n, room in enumerate(board.event.get("rooms", []), start=1)}
    counted: dict[str, int] = {}
    out: dict[str, str] = {}
    for item in board.live(ITEM):  # in the order they were created, like a room's list
        room = str(item.get("room"))
        if room in number:
            counted[room] = counted.get(room, 0) + 1
            out[item["id"]] = f"R{number[room]}.{counted[room]}"
    for n, merge in enumerate(board.live(MERGE), start=1):
        out[merge["id"]] = f"M{n}"
    return out


@dataclass(frozen=True)
class Index:
    """Every action with its owners and progress, built in one pass over the board and
    kept until the board's next change: a report, its answer, the owner's push, the
    organiser's refresh and the board's view at one seq share it."""

    seq: int
    followed: list[FollowedAction]
    by_id: dict[str, FollowedAction]
    by_owner: dict[str, list[FollowedAction]]
    owners: list[Entity]
    names: dict[str, str]  # owner id -> name


def index(board: Board) -> Index:
    found = board.derived.get("followup")
    if isinstance(found, Index) and found.seq == board.seq:
        return found
    live_owners = board.live(OWNER)
    by_key = {key: o["id"] for o in live_owners for key in o.get("keys", [])}
    ref = refs(board)
    out: list[FollowedAction] = []
    by_owner: dict[str, list[FollowedAction]] = {o["id"]: [] for o in live_owners}
    for action in actions(board):
        ids = tuple(dict.fromkeys(
            by_key[key] for key in (norm(n) for n in owner_names(action)) if key in by_key))
        progress = board.entities.get(f"{PROGRESS}:{action.id}")
        f = FollowedAction(action, ref.get(action.id, ""), ids, progress)
        out.append(f)
        for oid in ids:
            by_owner.setdefault(oid, []).append(f)
    built = Index(board.seq, out, {f.id: f for f in out}, by_owner, live_owners,
                  {o["id"]: str(o.get("name", "")) for o in live_owners})
    board.derived["followup"] = built
    return built


def followed(board: Board) -> list[FollowedAction]:
    return index(board).followed


def find(board: Board, action_id: str) -> FollowedAction | None:
    return index(board).by_id.get(action_id)


def effective_due(f: FollowedAction) -> str | None:
    moved = (f.progress or {}).get("due")
    return str(moved) if moved else (f.action.entity.get("due") or None)


def status_of(f: FollowedAction) -> str:
    return str((f.progress or {}).get("status") or "not_started")


def percent(f: FollowedAction) -> int:
    """Progress as counted: a done action is 100 % whatever was typed."""
    return 100 if status_of(f) == "done" else int((f.progress or {}).get("progress") or 0)


def overdue(f: FollowedAction, today: date) -> bool:
    due = effective_due(f)
    return bool(due) and status_of(f) not in CLOSED and str(due) < today.isoformat()


def action_json(board: Board, f: FollowedAction, today: date | None = None) -> dict[str, Any]:
    """An action with its progress (``GET …/owners/{owner}``, ``PATCH …/progress/{id}``)."""
    progress = f.progress or {}
    names = index(board).names
    out: dict[str, Any] = {
        "id": f.id, "ref": f.ref, "kind": f.action.kind, "text": f.action.text,
        "rooms": list(f.action.rooms), "goals": list(f.action.goals),
        "owner": "; ".join(owner_names(f.action)),
        "owners": [{"id": o, "name": names.get(o, "")} for o in f.owners],
        "due": effective_due(f), "planned_due": f.action.entity.get("due") or None,
        "status": status_of(f), "progress": int(progress.get("progress") or 0),
        "note": str(progress.get("note") or ""),
        "version": int(progress.get("version") or 0),
        "updated_at": progress.get("updated_at"),
    }
    if f.action.kind == ITEM:
        out["room"] = f.action.rooms[0]
    if today is not None:
        out["overdue"] = overdue(f, today)
    return out


def of_owner(board: Board, owner: str) -> list[FollowedAction]:
    return list(index(board).by_owner.get(owner, []))


def summary(board: Board, today: date) -> dict[str, Any]:
    """The organiser's follow-up view (``GET …/follow-up``): per owner, per goal, actions."""
    found = index(board)
    all_followed = found.followed
    owner_rows = []
    for owner in found.owners:
        theirs = found.by_owner.get(owner["id"], [])
        times = [str(f.progress["updated_at"]) for f in theirs if f.progress]
        owner_rows.append({
            "id": owner["id"], "name": owner["name"], "actions": len(theirs),
            "done": sum(1 for f in theirs if status_of(f) == "done"),
            "overdue": sum(1 for f in theirs if overdue(f, today)),
            "progress": _mean([percent(f) for f in theirs if status_of(f) != "dropped"]),
            "updated_at": max(times) if times else None,
            "reported": bool(times),
        })
    goal_rows = []
    for goal in board.event.get("goals", []):
        serving = [f for f in all_followed if goal["id"] in f.action.goals]
        goal_rows.append({
            "id": goal["id"], "text": goal["text"], "actions": len(serving),
            "done": sum(1 for f in serving if status_of(f) == "done"),
            "dropped": sum(1 for f in serving if status_of(f) == "dropped"),
            "progress": _mean([percent(f) for f in serving if status_of(f) != "dropped"]),
        })
    return {
        "owners": owner_rows,
        "goals": goal_rows,
        "actions": [action_json(board, f, today) for f in all_followed],
        "unowned": sum(1 for f in all_followed if not owner_names(f.action)),
        "seq": board.seq,
    }


def _mean(values: list[int]) -> int:
    return round(sum(values) / len(values)) if values else 0


# -- opening follow-up: who the owners are --------------------------------------------


@dataclass(frozen=True)
class OwnerPlan:
    """What the owner entities must become: created or changed, and absorbed (joined
    into another owner, so deleted: their links end)."""

    upsert: dict[str, Entity]  # owner id -> {"name", "keys"}
    absorbed: tuple[str, ...]


def spellings(board: Board) -> dict[str, str]:
    """Every owner named on a live action: normalised key -> how it is shown, the same
    on every ask: the most used spelling, then one with capitals ("Port of Bergen" over
    "port of bergen"), then the first in alphabetical order."""
    counts: dict[str, dict[str, int]] = {}
    for f in followed(board):
        for name in owner_names(f.action):
            seen = counts.setdefault(norm(name), {})
            seen[name] = seen.get(name, 0) + 1
    return {key: min(seen, key=lambda n: (-seen[n], n.islower(), n))
            for key, seen in counts.items()}


def plan_owners(board: Board, same: list[list[str]]) -> OwnerPlan:
    """The owners after opening follow-up: one per owner of a live action, with the
    spellings in each list of ``same`` joined into one (and into an existing owner
    that already stands for one of them). Existing owners are kept as they are."""
    current = {o["id"]: {"name": o["name"], "keys": list(o.get("keys", []))} for o in owners(board)}
    wanted = {k: dict(v) for k, v in current.items()}
    key_owner = {key: oid for oid, o in wanted.items() for key in o["keys"]}
    absorbed: list[str] = []
    for group in same:
        names = [tidy(n) for n in group if tidy(n)]
        keys = list(dict.fromkeys(norm(n) for n in names))
        if not keys:
            continue
        holders = list(dict.fromkeys(key_owner[k] for k in keys if k in key_owner))
        target = holders[0] if holders else owner_id(keys[0])
        entry = wanted.setdefault(target, {"name": names[0], "keys": []})
        merged = list(entry["keys"])
        for other in holders[1:]:
            merged += wanted.pop(other)["keys"]
            absorbed.append(other)
        merged = list(dict.fromkeys([*merged, *keys]))
        entry["keys"] = merged
        for key in merged:
            key_owner[key] = target
    for key, name in spellings(board).items():
        if key not in key_owner:
            oid = owner_id(key)
            wanted[oid] = {"name": name, "keys": [key]}
            key_owner[key] = oid
    changed = {oid: o for oid, o in wanted.items() if current.get(oid) != o}
    return OwnerPlan(changed, tuple(absorbed))


def likely_same(board: Board, limit: int = 20) -> list[dict[str, Any]]:
    """Spellings that likely mean one owner and are not yet one, to show side by side.

    The plenary's name matching (``similarity.alike_names``): case, spaces and
    punctuation never matter, small typos and word order neither; each name costs a
    bounded number of comparisons."""
    by_key = owner_by_key(board)
    out = []
    for group in alike_names(spellings(board).values()):
        owners_of = {by_key[norm(n)]["id"] if norm(n) in by_key else norm(n) for n in group}
        if len(owners_of) > 1:
            out.append({"names": group})
    return out[:limit]
