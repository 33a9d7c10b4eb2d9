"""Export to a file and re-import from the JSON export, through the store.

``import_event`` recreates an event from ``outcomes.json``: a new event id and
new tokens, the same rooms, goals, actions, roles, merges and votes, with their
statuses, authors and times. It appends ordinary commands through the store, so
the new event is exactly as if its rooms had typed it (one change per entity).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from facilitation.domain import (
    ITEM,
    MERGE,
    OWNER,
    PROGRESS,
    ROLE,
    ROOM,
    VOTE,
    Command,
    Conflict,
    Entity,
    make_command,
)
from facilitation.outcomes import Export, export
from facilitation.outcomes.jsonio import DERIVED, SCHEMA
from facilitation.outcomes.safety import one_line
from facilitation.schemas import EventIn

if TYPE_CHECKING:
    from facilitation.domain import Secrets
    from facilitation.services import Services

# Bookkeeping the store sets itself; times are passed on explicitly.
MANAGED = {"id", "room", "version", "created_at", "updated_at", "deleted", "kind"}
CHUNK = 500  # appends in flight at once: enough for the store's group commit


class BadExport(ValueError):
    """The file is not an outcomes export this version can read; nothing was created."""


async def export_event(services: Services, event_id: str, fmt: str) -> Export:
    board = await services.snapshot(event_id)
    return await asyncio.to_thread(export, board, fmt)


def _list(doc: dict[str, Any], name: str) -> list[dict[str, Any]]:
    value = doc.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise BadExport(f"{name}: must be a list of objects")
    return value


def _event_body(event: dict[str, Any]) -> EventIn:
    try:
        # An export of an event stored before titles, room names, questions and goals
        # had to be one line: joined into one line here, as the API now requires.
        return EventIn.model_validate({
            "title": _line(event.get("title")), "language": event.get("language", "en"),
            "rooms": [{"name": _line(r.get("name")), "prompt": _line(r.get("prompt") or "")}
                      for r in event.get("rooms", [])],
            "goals": [_line(g.get("text")) for g in event.get("goals", [])],
        })
    except (ValidationError, AttributeError, TypeError) as error:
        raise BadExport(f"event: {error}") from None


def _line(value: Any) -> Any:
    return one_line(value) if isinstance(value, str) else value


def _fields(entity: dict[str, Any], kind: str) -> Entity:
    skip = MANAGED | set(DERIVED.get(kind, ()))
    fields = {k: v for k, v in entity.items() if k not in skip}
    for name in ("created_at", "updated_at"):
        if isinstance(entity.get(name), str):
            fields[name] = entity[name]
    return fields


def _commands(doc: dict[str, Any], rooms: dict[str, str], goals: dict[str, str]) -> list[
        list[Command]]:
    """The commands that recreate the content, in phases that must follow each other."""
    items: list[Command] = []
    roles: list[Command] = []
    merges: list[Command] = []
    votes: list[Command] = []
    imported: set[str] = set()
    for kind, source, target in ((ITEM, "actions", items), (ROLE, "roles", roles)):
        for entity in _list(doc, source):
            entity_id, room = entity.get("id"), rooms.get(str(entity.get("room")))
            if not isinstance(entity_id, str) or room is None:
                raise BadExport(f"{source}: {entity_id!r} has no id or an unknown room")
            fields = _fields(entity, kind)
            if kind == ITEM:
                fields["goals"] = [goals[g] for g in fields.get("goals") or [] if g in goals]
            target.append(make_command(kind, "create", entity_id, room, fields))
            imported.add(entity_id)
    for entity in _list(doc, "merges"):
        fields = _fields(entity, MERGE)
        fields["items"] = [i for i in entity.get("live_items", entity.get("items", []))
                           if i in imported]
        fields["rooms"] = [rooms[r] for r in fields.get("rooms") or [] if r in rooms]
        if isinstance(fields.get("goals"), list):
            fields["goals"] = [goals[g] for g in fields["goals"] if g in goals]
        merges.append(make_command(MERGE, "create", str(entity["id"]),
                                   rooms.get(str(entity.get("room"))), fields))
        imported.add(str(entity["id"]))
    for entity in _list(doc, "votes"):
        if entity.get("item") in imported:
            # Judged when they were given: voting open, within the budget, before a merge.
            votes.append(make_command(VOTE, "create", str(entity["id"]),
                                      rooms.get(str(entity.get("room"))), _fields(entity, VOTE),
                                      imported=True))
    # Follow-up: the owners (same ids: they are named by their spelling) and every
    # report with its history and times, on the actions imported above.
    follow_up = [make_command(OWNER, "create", str(e["id"]), None, _fields(e, OWNER))
                 for e in _list(doc, "owners") if isinstance(e.get("id"), str)]
    for entity in _list(doc, "progress"):
        if entity.get("id") in imported:
            follow_up.append(make_command(
                PROGRESS, "create", str(entity["id"]), rooms.get(str(entity.get("room"))),
                _fields(entity, PROGRESS)))
    return [items + roles, merges, votes, follow_up]


async def _append_all(services: Services, event_id: str, commands: Iterable[Command]) -> None:
    batch = list(commands)
    for start in range(0, len(batch), CHUNK):
        await asyncio.gather(*(services.submit(event_id, c) for c in batch[start:start + CHUNK]))


async def import_event(services: Services, doc: Any) -> tuple[str, Secrets]:
    """Recreate the exported event under a new id and new tokens."""
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise BadExport(f"not a facilitation outcomes export with \"schema\": {SCHEMA}")
    event = doc.get("event")
    if not isinstance(event, dict):
        raise BadExport("event: missing")
    body = _event_body(event)
    old_rooms = [str(r.get("id")) for r in event.get("rooms", [])]
    old_goals = [str(g.get("id")) for g in event.get("goals", [])]
    # Check every entry before anything is created: a bad file creates nothing.
    _commands(doc, {r: r for r in old_rooms}, {g: g for g in old_goals})
    event_id, secrets = await services.create_event(body)
    board = await services.board(event_id)
    new_rooms = [r["id"] for r in board.event["rooms"]]
    new_goals = [g["id"] for g in board.event["goals"]]
    rooms = dict(zip(old_rooms, new_rooms, strict=True))
    goals = dict(zip(old_goals, new_goals, strict=True))
    for phase in _commands(doc, rooms, goals):
        await _append_all(services, event_id, phase)
    # Locks last: a locked room refuses the writes above.
    for room in event.get("rooms", []):
        if room.get("locked"):
            new_room = rooms[str(room.get("id"))]
            lock = make_command(ROOM, "create", new_room, None, {"locked": True})
            try:
                await services.store.append(event_id, lock)
            except Conflict:
                current = (await services.board(event_id)).entities[f"{ROOM}:{new_room}"]
                await services.submit(event_id, make_command(
                    ROOM, "update", new_room, None, {"locked": True}, version=current["version"]))
    return event_id, secrets
