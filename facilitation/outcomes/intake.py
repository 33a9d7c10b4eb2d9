"""What ``facilitation import`` lets in: every entity of the file, checked with the API's rules.

An ``outcomes.json`` is input from outside like any request body: a hand-edited or
hostile file must not put into the store what the API would refuse (a due date in
9999 that no calendar can write, a 5,000-character owner, an unknown status, an
action in a room or serving a goal the event does not have, a 101st room). So every
entity is validated with the API's own pydantic models and field types
(``facilitation/schemas.py``: ``ItemIn``, ``RoleIn``, ``EventIn``, ``Due``, ``Text``
...), the ids it refers to are checked against the file, and the rules the store
would otherwise refuse half-way through (an id used twice, an item in two joint
actions, a vote whose id is not its voter's) are checked first. The first bad field
is named by its path in the file (``actions[3].due``) and the whole file is refused
before anything is created.

``check`` returns the file's content as the importer appends it: the stored fields
only, as validated (the export's derived fields dropped, a joint action's sources
under ``items``).
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints, ValidationError

from facilitation.domain import HISTORY_MAX, ITEM, MERGE, ROLE, vote_id
from facilitation.outcomes.jsonio import DERIVED, SCHEMA
from facilitation.schemas import (
    LINE_BREAKS,
    VERSION_MAX,
    Due,
    EventIn,
    ItemIn,
    Name,
    OptionalName,
    OptionalText,
    ProgressStatus,
    RoleIn,
    Status,
    Strict,
    Text,
    VoteIn,
)

# When something was stored: an ISO time with its zone, in the years every page and
# export can show (the server writes "2026-11-25T10:00:00.000Z").
Stamp = Annotated[datetime, Field(ge=datetime(2000, 1, 1, tzinfo=UTC),
                                  le=datetime(2100, 12, 31, 23, 59, 59, tzinfo=UTC))]
# Ids the file refers to (rooms, goals, owners): they name things in page addresses.
Ref = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
_BREAK = re.escape("".join(sorted(LINE_BREAKS)))
LINE_RUN = re.compile(f"[ \t]*[{_BREAK}][{_BREAK} \t]*")
MAX_LIST = 100  # rooms, goals and an action's goals: the API's limits
MERGE_MAX = 50  # sources of one joint action (MergeIn)


class BadExport(ValueError):
    """The file is not an outcomes export this version can read; nothing was created."""


class _Id(Strict):
    id: Ref


class Times(Strict):
    created_at: Stamp | None = None
    updated_at: Stamp | None = None


class ActionFile(ItemIn, Times):
    """An action as the API takes it, with the times it was stored at."""


class RoleFile(RoleIn, Times):
    """A role assignment as the API takes it, with its times."""


class MergeFile(Times):
    """A joint action: the fields ``MergeIn``/``MergePatch`` and the merge itself set."""

    id: uuid.UUID
    text: Text
    items: list[str] = Field(max_length=MERGE_MAX)
    rooms: list[str] = Field(default_factory=list, max_length=MAX_LIST)
    goals: list[str] | None = Field(default=None, max_length=MAX_LIST)
    status: Status = "proposed"
    owner: OptionalName = ""
    due: Due | None = None


class VoteFile(VoteIn, Times):
    id: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class OwnerFile(Times):
    id: Ref
    name: Name
    keys: list[Name] = Field(min_length=1, max_length=50)


class Report(Strict):
    """One entry of a report's history (``domain.with_history``)."""

    status: ProgressStatus
    progress: int = Field(ge=0, le=100)
    note: OptionalText = ""
    due: Due | None = None
    by: OptionalName = ""
    version: int = Field(ge=1, le=VERSION_MAX)
    at: Stamp


class ProgressFile(Times):
    """An owner's report on one action (``ProgressPatch``'s fields), with its history."""

    id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    status: ProgressStatus = "not_started"
    progress: int = Field(default=0, ge=0, le=100)
    note: OptionalText = ""
    due: Due | None = None
    by: OptionalName = ""
    history: list[Report] = Field(default_factory=list, max_length=HISTORY_MAX)


def _path(prefix: str, loc: tuple[int | str, ...]) -> str:
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _validate(model: type[BaseModel], value: dict[str, Any], where: str) -> dict[str, Any]:
    """``value`` read as the API reads a JSON body (strict, unknown fields refused)."""
    try:
        # The standard library's encoder: it writes any integer the file held.
        found = model.model_validate_json(json.dumps(value))
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False)[0]
        raise BadExport(f"{_path(where, first['loc'])}: {first['msg']}") from None
    out = found.model_dump(mode="json", exclude_unset=False)
    # The stored times are kept as they were written, not as pydantic writes them (a
    # report's history too: its entries carry their times).
    for name in ("created_at", "updated_at", "history"):
        out.pop(name, None)
        if name in value and (name == "history" or isinstance(value[name], str)):
            out[name] = value[name]
    return out


def _objects(doc: dict[str, Any], name: str) -> list[dict[str, Any]]:
    value = doc.get(name, [])
    if not isinstance(value, list):
        raise BadExport(f"{name}: must be a list of objects")
    for n, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise BadExport(f"{name}[{n}]: must be an object")
    return value


def _stored(entity: dict[str, Any], kind: str | None) -> dict[str, Any]:
    """The entity's own fields: bookkeeping the store sets and the export's derived ones out."""
    skip = {"room", "version", "deleted", "kind", *DERIVED.get(kind or "", ())}
    return {k: v for k, v in entity.items() if k not in skip}


def _unique(ids: list[str], where: str, what: str = "id") -> None:
    seen: set[str] = set()
    for n, value in enumerate(ids):
        if value in seen:
            raise BadExport(f"{where}[{n}].{what}: {value!r} is used twice")
        seen.add(value)


def _event(event: Any) -> tuple[dict[str, Any], list[str], list[str]]:
    """The event's body (as ``POST /api/events`` takes it), its room ids and goal ids."""
    if not isinstance(event, dict):
        raise BadExport("event: missing")
    rooms, goals = event.get("rooms", []), event.get("goals", [])
    for name, value in (("rooms", rooms), ("goals", goals)):
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise BadExport(f"event.{name}: must be a list of objects")
    room_ids: list[str] = []
    goal_ids: list[str] = []
    for name, entries, ids in (("rooms", rooms, room_ids), ("goals", goals, goal_ids)):
        for n, entry in enumerate(entries):
            _validate(_Id, {"id": entry.get("id")}, f"event.{name}[{n}]")
            ids.append(entry["id"])
        _unique(ids, f"event.{name}")
    for n, room in enumerate(rooms):
        if not isinstance(room.get("locked", False), bool):
            raise BadExport(f"event.rooms[{n}].locked: must be true or false")
    # An export of an event stored before titles, room names, questions and goals had
    # to be one line: joined into one line here, as the API now requires.
    body = {"title": _line(event.get("title")), "language": event.get("language", "en"),
            "rooms": [{"name": _line(r.get("name")), "prompt": _line(r.get("prompt") or "")}
                      for r in rooms],
            "goals": [_line(g.get("text")) for g in goals]}
    try:
        EventIn.model_validate_json(json.dumps(body))
    except ValidationError as error:
        loc = error.errors(include_url=False)[0]["loc"]
        if len(loc) == 2 and loc[0] == "goals":
            loc = (*loc, "text")  # the file's goal is {"id", "text"}
        raise BadExport(f"{_path('event', loc)}: {error.errors()[0]['msg']}") from None
    return body, room_ids, goal_ids


def _line(value: Any) -> Any:
    """Line breaks (and the spaces around them) joined into one space; nothing else is
    changed, so a control character is still refused as the API refuses it."""
    return LINE_RUN.sub(" ", value) if isinstance(value, str) else value


def _known(values: list[str], known: set[str], where: str, what: str) -> None:
    for n, value in enumerate(values):
        if value not in known:
            raise BadExport(f"{where}[{n}]: unknown {what} {value!r}")


def _entries(doc: dict[str, Any], name: str, model: type[BaseModel], kind: str,
             rooms: set[str], goals: set[str]) -> list[dict[str, Any]]:
    """Actions or roles: each in one of the file's rooms, with known goals."""
    out = []
    for n, entity in enumerate(_objects(doc, name)):
        where = f"{name}[{n}]"
        if entity.get("room") not in rooms:
            raise BadExport(f"{where}.room: unknown room {entity.get('room')!r}")
        fields = _validate(model, _stored(entity, kind), where)
        if kind == ITEM:
            _known(fields["goals"], goals, f"{where}.goals", "goal id")
        out.append({**fields, "room": entity["room"]})
    _unique([e["id"] for e in out], name)
    return out


def check(doc: Any) -> dict[str, Any]:
    """The file's content as the importer appends it, or ``BadExport`` naming the first bad field."""
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise BadExport(f"not a facilitation outcomes export with \"schema\": {SCHEMA}")
    body, room_ids, goal_ids = _event(doc.get("event"))
    rooms, goals = set(room_ids), set(goal_ids)
    actions = _entries(doc, "actions", ActionFile, ITEM, rooms, goals)
    roles = _entries(doc, "roles", RoleFile, ROLE, rooms, goals)
    action_ids = {a["id"] for a in actions}
    merges: list[dict[str, Any]] = []
    claimed: dict[str, int] = {}
    for n, entity in enumerate(_objects(doc, "merges")):
        where = f"merges[{n}]"
        # "items" may name deleted items (not in the file); "live_items" are the ones it has.
        sources = entity.get("live_items", entity.get("items", []))
        fields = _validate(MergeFile, {**_stored(entity, MERGE), "items": sources}, where)
        if "live_items" in entity:
            _known(fields["items"], action_ids, f"{where}.live_items", "action")
        fields["items"] = [i for i in fields["items"] if i in action_ids]
        for i in fields["items"]:
            if i in claimed:  # the store's rule: an item in one joint action only
                raise BadExport(f"{where}.live_items: {i!r} is already in merges[{claimed[i]}]")
            claimed[i] = n
        _known(fields["rooms"], rooms, f"{where}.rooms", "room")
        _known(fields["goals"] or [], goals, f"{where}.goals", "goal id")
        merges.append(fields)
    _unique([m["id"] for m in merges], "merges")
    targets = action_ids | {m["id"] for m in merges}
    if len(targets) < len(action_ids) + len(merges):
        raise BadExport("merges: a joint action's id is also an action's id")
    votes = []
    for n, entity in enumerate(_objects(doc, "votes")):
        fields = _validate(VoteFile, _stored(entity, None), f"votes[{n}]")
        if fields["id"] != vote_id(fields["voter"], fields["item"]):
            raise BadExport(f"votes[{n}].id: not the id of this voter's vote for this action")
        if fields["item"] in targets:  # a vote for a deleted action stays behind
            votes.append(fields)
    _unique([v["id"] for v in votes], "votes")
    owners = [_validate(OwnerFile, _stored(e, None), f"owners[{n}]")
              for n, e in enumerate(_objects(doc, "owners"))]
    _unique([o["id"] for o in owners], "owners")
    progress = []
    for n, entity in enumerate(_objects(doc, "progress")):
        fields = _validate(ProgressFile, _stored(entity, None), f"progress[{n}]")
        if fields["id"] in targets:
            progress.append(fields)
    _unique([p["id"] for p in progress], "progress")
    return {"event": body, "room_ids": room_ids, "goal_ids": goal_ids,
            "locked": [bool(r.get("locked")) for r in doc["event"].get("rooms", [])],
            "actions": actions, "roles": roles, "merges": merges, "votes": votes,
            "owners": owners, "progress": progress}
